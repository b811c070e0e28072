"""PostgreSQL-only behaviour: what several replicas on one database rely on.

Each test opens two (or more) ``PostgresStore`` objects on one fresh schema, as two runbookd
replicas would, against the PostgreSQL on 127.0.0.1:5432.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from receiver.clock import FakeClock
from receiver.errors import ConfigError, StoreConflict, StoreUnavailable
from receiver.incidents.dispatcher import Dispatcher
from receiver.incidents.processor import Processor
from receiver.metrics import Metrics
from receiver.model import AlertRecord, Incident
from receiver.rules import load_rule_files
from receiver.store import open_store
from receiver.store.postgres import PostgresStore, migration_lock_key, parse_postgres_url
from receiver.store.schema import migrations
from tests.e2e.harness import free_port
from tests.store.conftest import PG_URL, require_pg, with_schema

pytestmark = pytest.mark.postgres

T0 = 1_800_000_000.0
RULES = Path(__file__).resolve().parents[1] / "testdata" / "rules" / "pipeline.yml"


def rec(fp: str, name: str = "HighLatency", status: str = "firing") -> AlertRecord:
    return AlertRecord(fp, "2026-11-22T01:00:00.000000Z", status, {"alertname": name, "instance": fp}, {},
                       T0 - 60, T0 if status == "resolved" else None)


@pytest.fixture
async def replicas(pg_url: str) -> AsyncIterator[Callable[[], Any]]:
    """Factory of opened stores on one schema (``await replicas()``); all closed at teardown."""
    opened: list[PostgresStore] = []

    async def make() -> PostgresStore:
        s = PostgresStore(pg_url)
        await s.open()
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.close()


def schema_versions(url: str, schema: str) -> list[int]:
    with psycopg.connect(PG_URL) as conn:
        rows = conn.execute(f'SELECT version FROM "{schema}".schema_version ORDER BY version').fetchall()
    return [r[0] for r in rows]


# -- URL and errors -------------------------------------------------------------------------------

def test_url_schema_becomes_search_path() -> None:
    """``?schema=name`` is not passed to libpq: it becomes ``options=-csearch_path=name``."""
    conninfo, schema = parse_postgres_url("postgresql://u@db.example:6432/rb?schema=runbookd&sslmode=require")
    assert schema == "runbookd"
    assert "search_path=runbookd" in conninfo and "sslmode=require" in conninfo and "schema=" not in conninfo
    assert parse_postgres_url("postgresql://u@h/rb")[1] is None


def test_bad_schema_name_is_a_config_error() -> None:
    """A schema that is not a plain identifier is refused when the store is built, not at first use."""
    with pytest.raises(ConfigError, match="schema"):
        open_store('postgresql://u@h/rb?schema=x";drop')
    assert isinstance(open_store("postgresql://u@h/rb?schema=ok"), PostgresStore)


async def test_unreachable_database_is_store_unavailable() -> None:
    """Opening a store whose server does not answer raises ``StoreUnavailable``."""
    s = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=1")
    with pytest.raises(StoreUnavailable):
        await s.open()
    assert await s.ping() is False
    await s.close()


# -- migrations -----------------------------------------------------------------------------------

async def test_two_replicas_opening_together_migrate_once(pg_schema: Callable[[], str]) -> None:
    """Two stores opened at the same moment on an empty schema both work; each version applied once."""
    require_pg()
    schema = pg_schema()
    url = with_schema(PG_URL, schema)
    stores = [PostgresStore(url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert schema_versions(PG_URL, schema) == list(range(1, len(migrations("postgresql")) + 1))
        assert await stores[1].ingest([rec("f1")], T0) == 1
    finally:
        for s in stores:
            await s.close()


async def test_migration_waits_for_the_advisory_lock(pg_schema: Callable[[], str]) -> None:
    """``open()`` migrates under ``pg_advisory_xact_lock``: while another session holds it, open waits."""
    require_pg()
    schema = pg_schema()
    store = PostgresStore(with_schema(PG_URL, schema))
    with psycopg.connect(PG_URL) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", migration_lock_key(schema))
        opening = asyncio.create_task(store.open())
        await asyncio.sleep(0.5)
        assert not opening.done()
        holder.commit()  # releases the transaction-level lock
        await asyncio.wait_for(opening, timeout=10)
    try:
        assert await store.ping()
    finally:
        await store.close()


async def test_committed_data_survives_reopen(replicas: Callable[[], Any]) -> None:
    """What one store committed is there for a store opened afterwards (a restarted replica)."""
    a = await replicas()
    await a.ingest([rec("f1")], T0)
    await a.close()
    b = await replicas()
    assert [x.fingerprint for x in await b.transaction(lambda tx: tx.claim_pending_alerts(10))] == ["f1"]


# -- claims across replicas -----------------------------------------------------------------------

async def test_two_replicas_claim_disjoint_rows_without_waiting(replicas: Callable[[], Any]) -> None:
    """SKIP LOCKED: while one replica holds its claim open, the other claims other rows at once."""
    a, b = await replicas(), await replicas()

    def setup(tx: Any) -> None:
        for i in range(10):
            tx.enqueue(f"k{i}", "page", "i1", {}, T0, T0)

    await a.transaction(setup)

    def slow_claim(tx: Any) -> list[str]:
        jobs = tx.claim_jobs(T0, 5, "a", 30)
        time.sleep(1.0)  # hold the row locks, as a claim stuck in a slow transaction would
        return [j.key for j in jobs]

    held = asyncio.create_task(a.transaction(slow_claim))
    await asyncio.sleep(0.2)
    t0 = time.monotonic()
    got_b = [j.key for j in await b.transaction(lambda tx: tx.claim_jobs(T0, 10, "b", 30))]
    assert time.monotonic() - t0 < 0.8, "the second replica waited for the first one's locks"
    got_a = await held
    assert len(got_a) == 5 and len(got_b) == 5
    assert sorted(got_a + got_b) == sorted(f"k{i}" for i in range(10))


async def test_parallel_claim_loops_run_every_row_once(replicas: Callable[[], Any]) -> None:
    """Two replicas claiming in a loop at the same time claim each of 300 rows exactly once."""
    a, b = await replicas(), await replicas()

    def setup(tx: Any) -> None:
        for i in range(300):
            tx.enqueue(f"k{i}", "step", f"i{i % 7}", {"i": i}, T0, T0)

    await a.transaction(setup)

    async def drain(store: PostgresStore, name: str) -> list[str]:
        keys: list[str] = []
        while jobs := await store.transaction(lambda tx: tx.claim_jobs(T0, 7, name, 30)):
            keys += [j.key for j in jobs]
            await store.transaction(lambda tx, jobs=jobs: [tx.finish_job(j.id, "done", T0) for j in jobs])
        return keys

    got_a, got_b = await asyncio.gather(drain(a, "a"), drain(b, "b"))
    assert len(got_a) + len(got_b) == 300
    assert len(set(got_a) | set(got_b)) == 300
    assert got_a and got_b


async def test_pending_alerts_are_claimed_by_one_replica(replicas: Callable[[], Any]) -> None:
    """A pending alert row locked by one replica's batch is skipped by the other's, not processed twice."""
    a, b = await replicas(), await replicas()
    await a.ingest([rec(f"f{i}") for i in range(6)], T0)

    def slow(tx: Any) -> list[str]:
        got = tx.claim_pending_alerts(3)
        time.sleep(0.8)
        tx.mark_alerts_processed([(x.fingerprint, x.starts_at) for x in got])
        return [x.fingerprint for x in got]

    held = asyncio.create_task(a.transaction(slow))
    await asyncio.sleep(0.2)

    def fast(tx: Any) -> list[str]:
        got = tx.claim_pending_alerts(10)
        tx.mark_alerts_processed([(x.fingerprint, x.starts_at) for x in got])
        return [x.fingerprint for x in got]

    got_b = await b.transaction(fast)
    got_a = await held
    assert len(got_a) == 3 and len(got_b) == 3
    assert sorted(got_a + got_b) == [f"f{i}" for i in range(6)]


async def test_same_alert_at_two_replicas_is_one_pending_row(replicas: Callable[[], Any]) -> None:
    """An Alertmanager HA pair: the same alert ingested by two replicas at once changes one row."""
    a, b = await replicas(), await replicas()
    batch = [rec(f"f{i}") for i in range(20)]
    counts = await asyncio.gather(*(s.ingest(list(batch), T0) for s in (a, b, a, b)))
    assert sum(counts) == 20
    assert len(await a.transaction(lambda tx: tx.claim_pending_alerts(100))) == 20


async def test_second_open_incident_of_an_identity_is_a_conflict(replicas: Callable[[], Any]) -> None:
    """Two replicas opening an incident of one identity at once: the second gets ``StoreConflict``."""
    a, b = await replicas(), await replicas()
    inc = Incident("i1", "high-latency|x", "high-latency", "P2", "firing", {}, "X", None, "v1", T0, T0)

    def slow_insert(tx: Any) -> None:
        tx.insert_incident(inc)
        time.sleep(0.5)

    first = asyncio.create_task(a.transaction(slow_insert))
    await asyncio.sleep(0.1)
    with pytest.raises(StoreConflict):
        await b.transaction(lambda tx: tx.insert_incident(Incident(
            "i2", "high-latency|x", "high-latency", "P2", "firing", {}, "X", None, "v1", T0, T0)))
    await first


async def test_dispatcher_redoes_a_batch_that_lost_the_race(replicas: Callable[[], Any]) -> None:
    """A replica whose new incident collides with another replica's joins that incident instead."""
    a, b = await replicas(), await replicas()
    rules = load_rule_files([str(RULES)], str(RULES.parent), routing_keys=["default", "secondary"])
    labels = {"alertname": "HighLatency", "instance": "f2"}
    (rule,) = rules.match(labels)
    theirs = Incident("theirs", rule.identity_key(labels), rule.name, "P2", "firing",
                      rule.identity(labels), "HighLatency", None, rules.version, T0, T0)

    def other_replica_opens(tx: Any) -> None:
        tx.insert_incident(theirs)
        time.sleep(0.7)  # still uncommitted while replica b processes its alert

    await b.ingest([rec("f2")], T0)
    other = asyncio.create_task(a.transaction(other_replica_opens))
    await asyncio.sleep(0.2)
    dispatcher = Dispatcher(b, lambda: Processor(rules, reopen_window=600), None, None, Metrics(),
                            FakeClock(T0), lease=30)
    assert await dispatcher.process_alerts() == 1
    await other
    incidents = await b.read(lambda tx: tx.list_incidents(status=None, alertname=None, limit=10))
    assert [(i.id, [x.fingerprint for x in i.alerts]) for i in incidents] == [("theirs", ["f2"])]


# -- wake-up --------------------------------------------------------------------------------------

async def test_work_committed_by_one_replica_wakes_the_other(replicas: Callable[[], Any]) -> None:
    """LISTEN/NOTIFY: enqueued work or a new alert state on one replica calls the other's callback."""
    a, b = await replicas(), await replicas()
    woken = asyncio.Event()
    a.on_work(woken.set)
    await asyncio.wait_for(woken.wait(), 5)  # the listener fires once when it (re)connects
    woken.clear()

    await b.transaction(lambda tx: tx.page_ref("i1", "x"))  # no work made: no notification
    await asyncio.sleep(0.3)
    assert not woken.is_set()

    await b.transaction(lambda tx: tx.enqueue("k", "page", "i1", {}, T0, T0))
    await asyncio.wait_for(woken.wait(), 2)
    woken.clear()

    await b.ingest([rec("f1")], T0)
    await asyncio.wait_for(woken.wait(), 2)
    woken.clear()

    await b.ingest([rec("f1")], T0)  # nothing changed: no notification
    await asyncio.sleep(0.3)
    assert not woken.is_set()


async def test_other_schemas_do_not_wake_us(replicas: Callable[[], Any], pg_schema: Callable[[], str]) -> None:
    """Deployments sharing a database in different schemas do not wake each other."""
    a = await replicas()
    other = PostgresStore(with_schema(PG_URL, pg_schema()))
    await other.open()
    try:
        woken = asyncio.Event()
        a.on_work(woken.set)
        await asyncio.wait_for(woken.wait(), 5)
        woken.clear()
        await other.transaction(lambda tx: tx.enqueue("k", "page", "i1", {}, T0, T0))
        await asyncio.sleep(0.3)
        assert not woken.is_set()
    finally:
        await other.close()
