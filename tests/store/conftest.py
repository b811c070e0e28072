"""The store contract suite runs every test against each backend (``store`` fixture).

PostgreSQL tests use the server on 127.0.0.1:5432 (trust auth, user ``postgres``, database ``test``;
``RUNBOOKD_TEST_PG`` overrides the URL); each test gets a fresh schema, dropped afterwards. They are
marked ``postgres`` and skipped, with the reason, only when nothing answers there.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from receiver.store import SqliteStore

PG_URL = os.environ.get("RUNBOOKD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pg_reachable(url: str = PG_URL) -> bool:
    """Whether a TCP connection to the URL's host and port succeeds within one second."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1.0):
            return True
    except OSError:
        return False


def require_pg() -> None:
    """Skip the calling test when the PostgreSQL of ``PG_URL`` does not answer."""
    if not pg_reachable():
        pytest.skip(f"PostgreSQL is not reachable at {urlsplit(PG_URL).netloc} (set RUNBOOKD_TEST_PG)")


def with_schema(url: str, schema: str) -> str:
    """``url`` with ``?schema=<schema>`` added (``&`` when it has a query already)."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@pytest.fixture
def pg_schema() -> Iterator[Callable[[], str]]:
    """Factory of fresh schema names (``t_<hex>``); every schema it named is dropped at teardown."""
    names: list[str] = []

    def make() -> str:
        names.append(f"t_{uuid.uuid4().hex[:16]}")
        return names[-1]

    yield make
    if names:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_url(pg_schema: Callable[[], str]) -> str:
    """A storage URL of the test PostgreSQL with a fresh schema of this test's own."""
    require_pg()
    return with_schema(PG_URL, pg_schema())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """An opened, empty store of each backend."""
    s: object
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "contract.db")
    else:
        from receiver.store.postgres import PostgresStore

        s = PostgresStore(request.getfixturevalue("pg_url"))
    await s.open()  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        await s.close()  # type: ignore[attr-defined]
