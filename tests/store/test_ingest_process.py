"""SQLite ingest applied at commit time: on the writer thread and in the ingest child process."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from receiver.errors import StoreUnavailable
from receiver.incidents.processor import ProcessorFactory, ProcessResult
from receiver.model import AlertRecord
from receiver.rules import load_rule_files
from receiver.store import SqliteStore
from receiver.store.sqlite import WAL_SIZE_LIMIT, connect

T0 = 1_800_000_000.0
RULES = Path(__file__).parent.parent / "testdata" / "rules" / "pipeline.yml"


def rec(fp: str, name: str = "TradingSystemDown", status: str = "firing") -> AlertRecord:
    labels = {"alertname": name, "job": "trading-engine", "instance": f"{fp}:8000"}
    return AlertRecord(fp, "2026-11-22T01:00:00.000000Z", status, labels, {}, T0 - 60,  # type: ignore[arg-type]
                       T0 if status == "resolved" else None)


def factory(default_severity: str = "P3") -> ProcessorFactory:
    rules = load_rule_files([str(RULES)], str(RULES.parent), default_severity=default_severity,
                            routing_keys=["default", "secondary"])
    return ProcessorFactory(rules, reopen_window=600.0)


class FailingFactory:
    """An applier that always raises (picklable, for the child process)."""

    def __call__(self) -> Any:
        def apply(tx: Any, alerts: list[AlertRecord], now: float) -> Any:
            raise RuntimeError("applier bug")
        return apply


@pytest.fixture(params=["thread", "process"])
async def applied(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A SQLite store that applies alerts at ingest (``thread``: writer thread; ``process``: child)."""
    async with opened(tmp_path / "rb.db") as store:
        results: list[ProcessResult | None] = []
        f = factory()
        store.process_on_ingest(f(), results.append, factory=f if request.param == "process" else None)
        store.results = results  # type: ignore[attr-defined]
        yield store


@contextlib.asynccontextmanager
async def opened(path: Path) -> AsyncIterator[SqliteStore]:
    """An opened ``SqliteStore`` on ``path``, closed on the way out."""
    store = SqliteStore(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def incidents(store: SqliteStore, name: str | None = None) -> list[Any]:
    return await store.read(lambda tx: tx.list_incidents(status=None, alertname=name, limit=100))


async def test_alerts_are_applied_in_the_commit_and_reported(applied: Any) -> None:
    """The incident exists once ingest returns; nothing is left pending; ``after`` gets what was done."""
    assert await applied.ingest([rec("f1"), rec("f2")], T0) == 2
    [inc] = await incidents(applied, "TradingSystemDown")
    assert inc.rule == "trading-down" and {a.fingerprint for a in inc.alerts} == {"f1", "f2"}
    assert await applied.transaction(lambda tx: tx.claim_pending_alerts(10)) == []
    [res] = applied.results
    assert res.processed == 2 and res.opened == {"P0": 1} and res.enqueued > 0
    assert await incidents(applied, "NoSuchAlert") == []


async def test_a_resent_alert_is_not_applied_again(applied: Any) -> None:
    """Re-sent unchanged, an alert changes no row, so nothing is applied or reported."""
    await applied.ingest([rec("f1")], T0)
    assert await applied.ingest([rec("f1")], T0 + 30) == 0
    assert len(applied.results) == 1
    [inc] = await incidents(applied)
    timeline = await applied.read(lambda tx: tx.timeline(inc.id))
    assert [e.kind for e in timeline].count("alert.firing") == 1


async def test_resolving_every_alert_resolves_the_incident(applied: Any) -> None:
    """A resolved alert applied at commit resolves its incident when it was the last one firing."""
    await applied.ingest([rec("f1")], T0)
    await applied.ingest([rec("f1", status="resolved")], T0 + 60)
    [inc] = await incidents(applied)
    assert inc.status == "resolved"


async def test_a_failing_applier_leaves_the_alerts_pending(tmp_path: Path) -> None:
    """The alerts are committed anyway (the webhook answers 200) and wait for the dispatcher."""
    for child in (False, True):
        async with opened(tmp_path / f"rb-{child}.db") as store:
            results: list[Any] = []
            store.process_on_ingest(FailingFactory()(), results.append, factory=FailingFactory() if child else None)
            assert await store.ingest([rec("f1")], T0) == 1
            assert results == [None]
            pending = await store.transaction(lambda tx: tx.claim_pending_alerts(10))
            assert [a.fingerprint for a in pending] == ["f1"]
            assert await incidents(store) == []


async def test_older_pending_alerts_keep_the_new_ones_pending(tmp_path: Path) -> None:
    """While older changes wait for the dispatcher, new ones queue behind them (applied in order)."""
    async with opened(tmp_path / "rb.db") as store:
        await store.ingest([rec("f1")], T0)  # no applier yet: pending
        f = factory()
        store.process_on_ingest(f(), lambda _: None)
        await store.ingest([rec("f2")], T0 + 1)
        pending = await store.transaction(lambda tx: tx.claim_pending_alerts(10))
        assert [a.fingerprint for a in pending] == ["f1", "f2"]


async def test_a_rules_reload_reaches_the_ingest_process(tmp_path: Path) -> None:
    """Registering again with new rules makes the child apply those from its next commit on."""
    async with opened(tmp_path / "rb.db") as store:
        f = factory("P3")
        store.process_on_ingest(f(), lambda _: None, factory=f)
        await store.ingest([rec("a1", name="Unmatched")], T0)
        f2 = factory("P2")
        store.process_on_ingest(f2(), lambda _: None, factory=f2)
        await store.ingest([rec("b1", name="AlsoUnmatched")], T0 + 1)
        got = {i.labels["alertname"]: i.severity for i in await incidents(store)}
        assert got == {"Unmatched": "P3", "AlsoUnmatched": "P2"}


async def test_a_killed_ingest_process_is_replaced(tmp_path: Path) -> None:
    """kill -9 of the child: the batch it held answers 503 (``StoreUnavailable``) or was committed;
    the next batch starts a new child and commits."""
    async with opened(tmp_path / "rb.db") as store:
        f = factory()
        store.process_on_ingest(f(), lambda _: None, factory=f)
        await store.ingest([rec("f1")], T0)
        child = store._child
        assert child is not None and child.alive
        first = child._proc.pid
        os.kill(first, signal.SIGKILL)
        child._proc.join(5)
        try:
            await store.ingest([rec("f2")], T0 + 1)
        except StoreUnavailable:
            await store.ingest([rec("f2")], T0 + 1)
        assert child.alive and child._proc.pid != first
        [inc] = await incidents(store)
        assert {a.fingerprint for a in inc.alerts} == {"f1", "f2"}


async def test_a_resolve_by_another_connection_is_seen_by_the_next_batch(applied: Any) -> None:
    """The applier keeps open incidents between batches only while nothing else wrote: an incident
    resolved through the API (the serving process's connection) is reopened, not joined, by the next
    alert of its identity."""
    from receiver.incidents.lifecycle import resolve

    await applied.ingest([rec("f1")], T0)
    [inc] = await incidents(applied)
    rules = factory().rules
    await applied.transaction(lambda tx: resolve(tx, tx.get_incident(inc.id), now=T0 + 10, by="alice",
                                                 via="api", rules=rules))
    await applied.ingest([rec("f2")], T0 + 20)
    [again] = await incidents(applied)
    assert again.id == inc.id and again.status == "firing" and again.epoch == 1
    kinds = [e.kind for e in await applied.read(lambda tx: tx.timeline(inc.id))]
    assert "incident.reopened" in kinds and kinds.index("incident.reopened") > kinds.index("incident.resolved")


class BrokenFactory:
    """An applier that cannot even be built (picklable): the child fails to start."""

    def __call__(self) -> Any:
        raise ImportError("no module named 'rules_v2'")


async def test_an_ingest_process_that_cannot_start_is_given_up_for_the_writer_thread(tmp_path: Path) -> None:
    """Each webhook batch answers 503 while the child fails to start; after three failed starts in a
    row ingest commits on the writer thread, so a broken child cannot stop ingest for good."""
    async with opened(tmp_path / "rb.db") as store:
        f = factory()
        store.process_on_ingest(f(), lambda _: None, factory=BrokenFactory())
        failures = 0
        for i in range(5):
            try:
                await store.ingest([rec(f"f{i}")], T0 + i)
                break
            except StoreUnavailable as e:
                assert "failed to start" in str(e) and "rules_v2" in str(e)
                failures += 1
        assert 1 <= failures <= 3 and store._child is None
        [inc] = await incidents(store)
        assert inc.rule == "trading-down"


def test_connections_keep_journals_in_memory_and_cut_the_wal_back(tmp_path: Path) -> None:
    """Savepoint and statement journals stay in memory (on file, every page changed under ingest's
    savepoint cost a write of its own), and a WAL that starts over is cut back to WAL_SIZE_LIMIT."""
    conn = connect(tmp_path / "rb.db")
    try:
        assert conn.execute("PRAGMA temp_store").fetchall() == [(2,)]  # 2 = MEMORY
        assert conn.execute("PRAGMA journal_size_limit").fetchall() == [(WAL_SIZE_LIMIT,)]
        assert conn.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
    finally:
        conn.close()


class FillingFactory:
    """An applier that caps its connection's database at its current size (``PRAGMA max_page_count``),
    so that the next commit that needs a new page fails with a real SQLITE_FULL (picklable)."""

    def __call__(self) -> Any:
        def apply(tx: Any, alerts: list[AlertRecord], now: float) -> Any:
            pages = tx._x("PRAGMA page_count").fetchone()[0]
            tx._x(f"PRAGMA max_page_count={pages}").fetchall()
            return None
        return apply


def big(fp: str) -> AlertRecord:
    return AlertRecord(fp, "2026-11-22T01:00:00.000000Z", "firing", {"alertname": "Full", "blob": "x" * 20000},
                       {}, T0 - 60)


@pytest.mark.parametrize("where", ["thread", "process"])
async def test_a_full_database_is_reported_as_full_not_as_a_failed_rollback(tmp_path: Path, where: str) -> None:
    """Disk full (SQLITE_FULL) at ingest, on the writer thread and in the ingest process, and in a unit
    of work: the error names the real cause, not "cannot rollback - no transaction is active"."""
    async with opened(tmp_path / "rb.db") as store:
        f = FillingFactory()
        store.process_on_ingest(f(), lambda _: None, factory=f if where == "process" else None)
        await store.ingest([rec("small")], T0)  # the applier caps the database here
        with pytest.raises(StoreUnavailable) as e:
            await store.ingest([big(f"b{i}") for i in range(20)], T0 + 1)
        assert "database or disk is full" in str(e.value)
        if where == "thread":  # the writer connection is the capped one
            with pytest.raises(StoreUnavailable) as e:
                await store.transaction(lambda tx: tx.upsert_alerts([big(f"c{i}") for i in range(20)], T0 + 2))
            assert "database or disk is full" in str(e.value)
        assert await store.ingest([rec("small")], T0 + 3) == 0  # nothing lost: the first alert is there
