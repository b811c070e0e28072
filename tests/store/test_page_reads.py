"""The page path's reads are bounded (schema version 13): a page of an incident with 5,000 alerts and
5,000 timeline events reads its first alerts, its step events and its page rows, and says the same as a
page built from the whole incident; on SQLite and PostgreSQL (``store`` fixture)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from receiver.escalation.messages import STEP_KINDS, build_message
from receiver.escalation.sender import PAGE_ALERTS, PAGE_STEPS
from receiver.model import AlertRecord, IncidentAlert, TimelineEvent
from receiver.store.sqlite import SqliteStore
from tests.store.test_contract import T0, incident

BIG = 5_000


def _starts(i: int) -> str:
    return f"2026-11-22T01:{i // 3600 % 60:02d}:{i // 60 % 60:02d}.{i % 60:06d}Z"


async def big_incident(store: Any, steps: int = 3, alerts: int = BIG) -> None:
    """Incident ``i1`` with ``alerts`` alerts (one resolved in ten, latest first in insertion order, so
    only an ordered read finds the first) and an ``alert.firing`` event each, plus ``steps`` steps."""
    records = [AlertRecord(f"{i:016x}", _starts(i), "resolved" if i % 10 == 0 else "firing",  # type: ignore[arg-type]
                           {"alertname": "X", "n": str(i)}, {"summary": f"alert {i}"}, T0 + i, None)
               for i in reversed(range(alerts))]
    await store.transaction(lambda tx: tx.insert_incident(incident()))
    await store.ingest(records, T0)

    def fill(tx: Any) -> None:
        for r in records:
            tx.upsert_incident_alert("i1", IncidentAlert(r.fingerprint, r.starts_at, r.status, r.labels,
                                                         r.annotations, r.starts_ts))
            tx.add_event("i1", TimelineEvent(T0, "alert.firing", f"alert {r.fingerprint} firing", {}))
        for s in range(steps):
            tx.add_event("i1", TimelineEvent(T0 + s, "step.ok", f"step 's{s}' (http): ok — POST /x -> 200",
                                             {"step": f"s{s}", "action": "http", "outcome": "ok"}))

    await store.transaction(fill)


async def test_incident_head_is_the_incidents_first_alerts(store: Any) -> None:
    """``incident_head`` returns the first ``alerts`` alerts by start, as ``get_incident`` orders them,
    and ``alert_counts`` counts every alert by status."""
    await big_incident(store)
    head = await store.read(lambda tx: tx.incident_head("i1", alerts=PAGE_ALERTS))
    full = await store.read(lambda tx: tx.get_incident("i1"))
    assert len(full.alerts) == BIG
    assert head.alerts == full.alerts[:PAGE_ALERTS]
    assert head.alerts[0].annotations == {"summary": "alert 0"}
    assert (head.id, head.status, head.title) == (full.id, full.status, full.title)
    assert await store.read(lambda tx: tx.alert_counts("i1")) == {"firing": BIG - BIG // 10, "resolved": BIG // 10}
    assert await store.read(lambda tx: tx.incident_head("nope", alerts=1)) is None


async def test_a_page_of_a_huge_incident_says_what_a_page_of_the_whole_incident_says(store: Any) -> None:
    """The page built from the bounded reads equals the one built from every alert and event."""
    await big_incident(store)

    def bounded(tx: Any) -> Any:
        steps, total = tx.events_of_kinds("i1", STEP_KINDS, PAGE_STEPS)
        return build_message("page", tx.incident_head("i1", alerts=PAGE_ALERTS), steps, ref=None,
                             dry_run=False, external_url="http://rb", steps_left_out=total - len(steps))

    def whole(tx: Any) -> Any:
        return build_message("page", tx.get_incident("i1"), tx.timeline("i1"), ref=None, dry_run=False,
                             external_url="http://rb")

    page = await store.read(bounded)
    assert page == await store.read(whole)
    assert page.summary == "alert 0" and len(page.actions) == 3


async def test_steps_past_the_limit_are_summed_up_as_and_n_more(store: Any) -> None:
    """With more finished steps than ``PAGE_STEPS``, the page lists the last ``PAGE_STEPS`` after a
    line "… and N more earlier step(s)"."""
    await big_incident(store, steps=PAGE_STEPS + 7, alerts=10)
    events, total = await store.read(lambda tx: tx.events_of_kinds("i1", STEP_KINDS, PAGE_STEPS))
    assert (len(events), total) == (PAGE_STEPS, PAGE_STEPS + 7)
    assert events[0].data["step"] == "s7" and events[-1].data["step"] == f"s{PAGE_STEPS + 6}"
    inc = await store.read(lambda tx: tx.incident_head("i1", alerts=PAGE_ALERTS))
    msg = build_message("page", inc, events, ref=None, dry_run=False, external_url="", steps_left_out=7)
    assert msg.actions[0] == "… and 7 more earlier step(s): see the incident"
    assert msg.actions[1].startswith("s7 (http): ok") and len(msg.actions) == PAGE_STEPS + 1


async def test_jobs_of_kinds_reads_only_those_kinds(store: Any) -> None:
    """``jobs_of_kinds`` returns the incident's rows of the kinds asked, oldest first, and no others."""
    def add(tx: Any) -> None:
        for i in range(50):
            tx.enqueue(f"notice:i1:{i}", "notice", "i1", {"receiver": "r"}, T0, T0)
        tx.enqueue("page:i1:0", "page", "i1", {"receiver": "a"}, T0, T0)
        tx.enqueue("page:i1:1", "page", "i1", {"receiver": "b"}, T0 + 60, T0)
        tx.enqueue("page:i2:0", "page", "i2", {"receiver": "a"}, T0, T0)

    await store.transaction(add)
    pages = await store.read(lambda tx: tx.jobs_of_kinds("i1", ("page",)))
    assert [j.key for j in pages] == ["page:i1:0", "page:i1:1"]


async def test_the_page_reads_use_ordered_indexes_on_sqlite(tmp_path: Path) -> None:
    """On SQLite the bounded reads walk an index in order and stop at their LIMIT (no sort of the
    incident's rows: no temporary B-tree, no scan of the whole table). Query plans are SQLite's; on
    PostgreSQL the equality tests above cover the same reads."""
    store = SqliteStore(tmp_path / "plans.db")
    await store.open()
    try:
        await _assert_ordered_plans(store)
    finally:
        await store.close()


async def _assert_ordered_plans(store: Any) -> None:
    queries = [
        ("SELECT ia.fingerprint FROM incident_alerts ia LEFT JOIN alerts a ON a.fingerprint = ia.fingerprint "
         "AND a.starts_at = ia.starts_at WHERE ia.incident_id = 'i1' ORDER BY ia.starts_ts, ia.fingerprint LIMIT 10"),
        ("SELECT at FROM timeline INDEXED BY timeline_incident_kind WHERE incident_id = 'i1' "
         "AND kind IN ('step.ok', 'step.failed') ORDER BY id DESC LIMIT 50"),
        "SELECT id FROM jobs WHERE incident_id = 'i1' AND kind IN ('page') ORDER BY id",
    ]
    plans = await store.read(lambda tx: [" | ".join(str(r[-1]) for r in tx._cur.execute(
        f"EXPLAIN QUERY PLAN {q}").fetchall()) for q in queries])
    assert "incident_alerts_start" in plans[0] and "TEMP B-TREE" not in plans[0], plans[0]
    assert "timeline_incident_kind" in plans[1], plans[1]
    assert "jobs_incident_kind" in plans[2] and "TEMP B-TREE" not in plans[2], plans[2]


async def test_reserve_slot_allows_a_burst_then_one_per_interval(store: Any) -> None:
    """Three sends at once, then one per second; a quiet period gives the burst back."""
    starts = [await store.transaction(lambda tx: tx.reserve_slot("slack.post:#a", T0, 1.0, 3)) for _ in range(5)]
    assert [s <= T0 for s in starts[:3]] == [True] * 3
    assert starts[3:] == [T0 + 1.0, T0 + 2.0]
    other = await store.transaction(lambda tx: tx.reserve_slot("slack.post:#b", T0, 1.0, 3))
    assert other <= T0
    later = await store.transaction(lambda tx: tx.reserve_slot("slack.post:#a", T0 + 60, 1.0, 3))
    assert later <= T0 + 60


async def test_concurrent_reservations_get_distinct_slots(store: Any) -> None:
    """Reservations racing on one key each get their own slot (one upsert per reservation)."""
    starts = await asyncio.gather(*[store.transaction(lambda tx: tx.reserve_slot("k", T0, 1.0, 1))
                                    for _ in range(8)])
    assert sorted(starts) == [T0 + i for i in range(8)]
