"""The hash-chained audit log on both backends: written with each change, append-only, verifiable."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import psycopg
import pytest

from receiver.errors import StoreError
from receiver.model import TimelineEvent
from receiver.store import audit
from receiver.store.postgres import PostgresStore

T0 = 1_800_000_000.0


def records(store: Any) -> Any:
    return store.read(lambda tx: list(audit.export_rows(tx._x)))


async def add(store: Any, n: int = 1, incident: str = "i1", by: str | None = None) -> None:
    def fn(tx: Any) -> None:
        for k in range(n):
            tx.add_event(incident, TimelineEvent(T0 + k, "incident.acknowledged", f"event {k}",
                                                 {"by": by} if by else {"k": k}))
    await store.transaction(fn)


async def test_fresh_store_verifies(store: Any) -> None:
    """A fresh store has an empty chain, which verifies."""
    assert audit.first_broken(iter(await records(store))) == (None, 0)


async def test_every_timeline_event_is_one_chained_record(store: Any) -> None:
    """Each timeline event appends one record: seq 1, 2, … linked by prev_hash, actor from ``by``."""
    await add(store, 2)
    await add(store, 1, incident="i2", by="alice")
    rows = await records(store)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["prev_hash"] == audit.GENESIS and rows[1]["prev_hash"] == rows[0]["hash"]
    assert [r["actor"] for r in rows] == ["runbookd", "runbookd", "alice"]
    assert rows[2]["subject"] == "i2" and rows[2]["action"] == "incident.acknowledged"
    assert rows[0]["at"] == "2027-01-15T08:00:00.000000Z"
    assert json.loads(rows[0]["data"]) == {"message": "event 0", "data": {"k": 0}}
    assert audit.first_broken(iter(rows)) == (None, 3)


async def test_a_rolled_back_change_leaves_no_record(store: Any) -> None:
    """The record is in the change's transaction: a unit of work that fails writes neither."""
    def fail(tx: Any) -> None:
        tx.add_event("i1", TimelineEvent(T0, "x", "x", {}))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.transaction(fail)
    assert await records(store) == []
    assert await store.read(lambda tx: tx.timeline("i1")) == []


async def test_explicit_records_take_the_transaction_actor(store: Any) -> None:
    """``tx.audit`` records a change that is no timeline event, as the transaction's actor."""
    def fn(tx: Any) -> None:
        tx.actor = "bob"
        tx.audit(T0, "automation.paused", "automation", {"reason": "maintenance"})
    await store.transaction(fn)
    [r] = await records(store)
    assert (r["actor"], r["action"], r["subject"], json.loads(r["data"])) == (
        "bob", "automation.paused", "automation", {"reason": "maintenance"})


@pytest.mark.parametrize("table", ["audit_log", "timeline"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET at = at", "DELETE FROM {t}"])
async def test_triggers_refuse_update_and_delete(store: Any, table: str, statement: str) -> None:
    """UPDATE and DELETE of the audit log and of the timeline are refused by the database itself."""
    await add(store, 2)
    with pytest.raises(StoreError, match="append-only"):
        await store.transaction(lambda tx: tx._x(statement.format(t=table)))
    assert len(await records(store)) == 2
    assert len(await store.read(lambda tx: tx.timeline("i1"))) == 2


def tamper_sqlite(path: Any, seq: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_log_append_only_update")
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?", (seq,))
    conn.commit()
    conn.close()


def tamper_pg(store: PostgresStore, seq: int) -> None:
    with psycopg.connect(store.conninfo, autocommit=True) as conn:
        conn.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        conn.execute("UPDATE audit_log SET data = '{\"message\":\"edited\",\"data\":{}}' WHERE seq = %s", (seq,))


def test_the_hash_is_that_of_the_canonical_json() -> None:
    """``record_hash`` equals SHA-256 of ``json.dumps(record, sort_keys=True, separators=(",", ":"))``,
    escapes included, as docs/audit.md tells an auditor."""
    import hashlib

    args = (7, "2027-01-15T08:00:00.000000Z", "ädä \"q\" \\", "a\n\u2028", "s\t\x7f", '{"k":"é"}', "f" * 64)
    doc = dict(zip(("seq", "at", "actor", "action", "subject", "data", "prev_hash"), args, strict=True))
    want = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert audit.record_hash(*args) == want  # type: ignore[arg-type]


async def test_an_edited_record_is_named(store: Any) -> None:
    """An audit row edited behind the triggers' back breaks the chain at that seq."""
    await add(store, 5)
    if isinstance(store, PostgresStore):
        tamper_pg(store, 3)
    else:
        tamper_sqlite(store.path, 3)
    assert audit.first_broken(iter(await records(store))) == (3, 3)


def test_a_missing_record_is_named() -> None:
    """A gap in seq is a break at the first missing number."""
    rows, prev = [], audit.GENESIS
    for seq in (1, 2, 4):
        h = audit.record_hash(seq, "t", "a", "x", "s", "{}", prev)
        rows.append({"seq": seq, "at": "t", "actor": "a", "action": "x", "subject": "s", "data": "{}",
                     "prev_hash": prev, "hash": h})
        prev = h
    assert audit.first_broken(iter(rows)) == (3, 3)


@pytest.mark.postgres
async def test_two_replicas_writing_at_once_make_one_chain(pg_url: str) -> None:
    """Two stores on one PostgreSQL schema appending concurrently produce one unbroken chain, no gaps."""
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    await a.open()
    await b.open()
    try:
        await asyncio.gather(*(add(s, 3, incident=f"i{k}") for k in range(20) for s in (a, b)))
        rows = await records(a)
    finally:
        await a.close()
        await b.close()
    assert [r["seq"] for r in rows] == list(range(1, 121))
    assert audit.first_broken(iter(rows)) == (None, 120)
