"""Database faults against the whole pipeline: a store that refuses commits or is slow loses no page
and doubles none.

The disk-full case (a real ``SQLITE_FULL``) is in tests/store/test_ingest_process.py, the database
that goes away under a running ``runbookd serve`` in tests/e2e/test_replicas.py; here an in-process
runbookd (fake clock, real SQLite or PostgreSQL, the real SDKs against the fakes) meets a store whose
table is taken away under it and a PostgreSQL whose work table another session holds locked.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from receiver.errors import StoreError
from tests.api.conftest import backend  # noqa: F401  (fixture: sqlite and postgresql)
from tests.conftest import alert, payload
from tests.faults.test_vendor_retries import PRIMARY, triggers
from tests.incidents.test_pipeline import top_level_pages
from tests.store.conftest import PG_URL, pg_schema, require_pg, with_schema  # noqa: F401


def _sql(storage: str, tmp_path: Path, statement: str) -> None:
    """Run one DDL statement on the store's database from another connection (as an operator would)."""
    if storage.startswith("sqlite"):
        db = sqlite3.connect(tmp_path / "rb.db")
        db.execute(statement)
        db.commit()
        db.close()
        return
    schema = storage.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(statement)


def answered(rb: Any, code: int) -> float:
    return rb.c.metrics.webhook_requests.labels(code=str(code))._value.get()


async def test_a_store_that_refuses_commits_loses_no_page_and_doubles_none(
        fakes: Any, make_runbookd: Any, backend: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    """While the alerts table is gone the webhook answers 503 (counted), so Alertmanager keeps the
    notification; its re-send after recovery opens the incident and pages PagerDuty and Slack once,
    and further re-sends page nobody again."""
    rb = await make_runbookd(fakes, **backend)
    storage = backend.get("storage", "sqlite")
    _sql(storage, tmp_path, "ALTER TABLE alerts RENAME TO alerts_gone")
    r = await rb.post_alerts(payload(alert()))
    assert r.status == 503
    assert (await r.json())["error"].startswith("store unavailable")
    assert answered(rb, 503) == 1
    with pytest.raises(StoreError):  # a dispatcher pass fails too; serve's loop logs it and tries again
        await rb.run()
    assert triggers(fakes, PRIMARY) == [] and top_level_pages(fakes, "#critical") == []

    _sql(storage, tmp_path, "ALTER TABLE alerts_gone RENAME TO alerts")
    for _ in range(3):  # Alertmanager's re-sends: every group_interval until a 2xx, then repeat_interval
        assert (await rb.post_alerts(payload(alert()))).status == 200
        await rb.advance(30)
    assert len(triggers(fakes, PRIMARY)) == 1
    assert len(top_level_pages(fakes, "#critical")) == 1
    [inc] = await rb.api("/api/v1/incidents")
    assert inc["severity"] == "P0"


@pytest.mark.postgres
async def test_a_locked_work_table_delays_pages_but_neither_ingest_nor_their_count(
        fakes: Any, make_runbookd: Any, pg_schema: Any) -> None:  # noqa: F811
    """Another session holds the ``jobs`` table locked (a slow migration, a stuck VACUUM FULL): the
    webhook still answers 200 (ingest does not touch the work rows), the dispatcher's pass waits, and
    once the lock goes the P0 pages PagerDuty exactly once."""
    require_pg()
    schema = pg_schema()
    rb = await make_runbookd(fakes, storage=with_schema(PG_URL, schema))
    with psycopg.connect(PG_URL) as holder:
        holder.execute(f'SET search_path TO "{schema}"')
        holder.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
        assert (await asyncio.wait_for(rb.post_alerts(payload(alert())), 30)).status == 200
        passing = asyncio.ensure_future(rb.run())
        # The pass is blocked on the lock: wait until PostgreSQL shows a session waiting for it.
        with psycopg.connect(PG_URL, autocommit=True) as watcher:
            for _ in range(600):
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE NOT l.granted AND c.relname = 'jobs' AND n.nspname = %s", (schema,)).fetchone()
                if waiting and waiting[0]:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the dispatcher never waited for the locked jobs table")
        assert not passing.done()
        assert triggers(fakes, PRIMARY) == []
        holder.rollback()  # the lock goes
    await asyncio.wait_for(passing, 30)
    await rb.run()
    await rb.advance(30)
    assert len(triggers(fakes, PRIMARY)) == 1
