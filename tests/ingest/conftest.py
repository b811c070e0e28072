"""Fixtures of the ingest tests: an in-process runbookd on each store backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.store.conftest import PG_URL, require_pg, with_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Settings overrides selecting each backend: ``{}`` (SQLite in tmp_path) or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield {}
        return
    require_pg()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield {"storage": with_schema(PG_URL, schema)}
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
