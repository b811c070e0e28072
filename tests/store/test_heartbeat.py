"""The dead man's switch heartbeat is written by ingest's own commit, on every backend and path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from receiver.model import AlertRecord
from receiver.store import SqliteStore
from receiver.store.base import HEARTBEAT_KEY
from tests.store.test_ingest_process import factory

T0 = 1_800_000_000.0


def alert(fp: str, name: str, status: str = "firing") -> AlertRecord:
    labels = {"alertname": name, "instance": f"{fp}:9093"}
    return AlertRecord(fp, "2026-11-22T01:00:00.000000Z", status, labels, {}, T0 - 60,  # type: ignore[arg-type]
                       T0 if status == "resolved" else None)


async def heartbeat(store: Any) -> str | None:
    return await store.read(lambda tx: tx.get_state(HEARTBEAT_KEY))  # type: ignore[no-any-return]


async def test_ingest_of_a_firing_heartbeat_records_it_in_the_same_commit(store: Any) -> None:
    """``Store.ingest`` alone (no later transaction) sets the heartbeat to the request's receive time."""
    store.heartbeat_alertname = "Watchdog"
    await store.ingest([alert("a1", "Watchdog")], T0)
    assert await heartbeat(store) == repr(T0)
    await store.ingest([alert("a1", "Watchdog")], T0 + 30)  # unchanged alert row: still a heartbeat
    assert await heartbeat(store) == repr(T0 + 30)


async def test_other_alerts_and_a_resolved_heartbeat_record_nothing(store: Any) -> None:
    """Only a firing alert named ``heartbeat_alertname`` counts; none at all without a name."""
    store.heartbeat_alertname = "Watchdog"
    await store.ingest([alert("b1", "DiskFull"), alert("a1", "Watchdog", "resolved")], T0)
    assert await heartbeat(store) is None
    store.heartbeat_alertname = ""
    await store.ingest([alert("a2", "Watchdog")], T0 + 1)
    assert await heartbeat(store) is None


@pytest.mark.parametrize("where", ["thread", "process"])
async def test_sqlite_ingest_applied_at_commit_records_the_heartbeat(tmp_path: Path, where: str) -> None:
    """With alerts applied at ingest (writer thread, or the ingest child process) the heartbeat is in that commit."""
    store = SqliteStore(tmp_path / "hb.db", heartbeat_alertname="Watchdog")
    await store.open()
    try:
        f = factory()
        store.process_on_ingest(f(), lambda _: None, factory=f if where == "process" else None)
        assert await store.ingest([alert("a1", "Watchdog"), alert("b1", "DiskFull")], T0) == 2
        assert await heartbeat(store) == repr(T0)
    finally:
        await store.close()
