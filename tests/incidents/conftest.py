"""Fixtures of the incident tests: ``storage``, a storage URL of each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.store.conftest import PG_URL, pg_schema, pg_url, require_pg, with_schema

__all__ = ["pg_schema", "pg_url", "storage"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage URL of each backend: a temp SQLite file, or a fresh PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/rb.db"
    require_pg()
    return with_schema(PG_URL, request.getfixturevalue("pg_schema")())
