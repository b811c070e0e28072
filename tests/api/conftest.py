"""Fixtures of the API tests: the storage of an in-process runbookd on each backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import PG_URL, pg_schema, require_pg, with_schema

__all__ = ["pg_schema"]  # the fixture, used by ``backend``


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings overrides of ``make_runbookd`` for each store: SQLite (the default) and PostgreSQL."""
    if request.param == "sqlite":
        return {}
    require_pg()
    return {"storage": with_schema(PG_URL, request.getfixturevalue("pg_schema")())}
