"""On-call override rows (receiver.store.oncall) over SQLite and PostgreSQL: stored, listed, deleted, audited."""

from __future__ import annotations

import json
from typing import Any

from receiver.store import oncall as rows
from receiver.store.oncall import OverrideRow

T = 1_800_000_000.0


def ov(oid: str, schedule: str = "primary", start: float = T, end: float = T + 3600) -> OverrideRow:
    return OverrideRow(oid, schedule, "carol", start, end, "swap", "ada", T - 10)


async def test_an_override_is_stored_listed_by_schedule_and_audited(store: Any) -> None:
    """Insert queues oncall.override.created; current lists those not over, of one schedule or all."""
    await store.transaction(lambda tx: rows.insert(tx, ov("o1")))
    await store.transaction(lambda tx: rows.insert(tx, ov("o2", "secondary", start=T + 60)))
    await store.transaction(lambda tx: rows.insert(tx, ov("old", end=T - 1)))
    assert await store.read(lambda tx: rows.get(tx, "o1")) == ov("o1")
    assert [o.id for o in await store.read(lambda tx: rows.current(tx, T))] == ["o1", "o2"]
    assert [o.id for o in await store.read(lambda tx: rows.current(tx, T, "secondary"))] == ["o2"]
    page = await store.read(lambda tx: tx.audit_page(10))
    created = [r for r in page if r["action"] == "oncall.override.created"]
    assert len(created) == 3 and created[-1]["actor"] == "ada" and created[-1]["subject"] == "oncall:primary"
    assert json.loads(created[-1]["data"])["person"] == "carol"


async def test_deleting_an_override_removes_it_and_is_audited(store: Any) -> None:
    """Delete returns the row and queues oncall.override.deleted by the actor; an unknown id is None."""
    await store.transaction(lambda tx: rows.insert(tx, ov("o1")))
    gone = await store.transaction(lambda tx: rows.delete(tx, "o1", T + 5, "bob"))
    assert gone == ov("o1")
    assert await store.read(lambda tx: rows.get(tx, "o1")) is None
    assert await store.transaction(lambda tx: rows.delete(tx, "o1", T + 6, "bob")) is None
    page = await store.read(lambda tx: tx.audit_page(10))
    assert [(r["action"], r["actor"]) for r in page if r["action"].startswith("oncall.")] == [
        ("oncall.override.deleted", "bob"), ("oncall.override.created", "ada")]
