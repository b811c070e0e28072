"""The console's paged reads on every backend: incident pages with alert counts, alert pages by
keyset, filtered timeline pages, playbook progress, the audit page, the latest change and sessions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from receiver.model import IncidentAlert, TimelineEvent
from receiver.store import sessions
from tests.store.test_contract import T0, incident, rec


async def _two_incidents(store: Any) -> None:
    await store.ingest([rec(f"f{i}") for i in range(5)], T0)

    def write(tx: Any) -> None:
        tx.insert_incident(incident("i1", "r|1"))
        tx.insert_incident(replace(incident("i2", "r|2"), started_at=T0 + 10, severity="P0"))
        for i in range(5):
            tx.track_alert("i1", IncidentAlert(f"f{i}", "2026-11-22T01:00:00.000000Z", "firing", {}, {}, T0 - 60))
            tx.add_event("i1", TimelineEvent(T0, "alert.firing", f"f{i} fires", {}))
        tx.add_event("i1", TimelineEvent(T0, "step.started", "s1 started", {"step": "s1"}))
        tx.add_event("i1", TimelineEvent(T0, "step.ok", "s1 ok", {"step": "s1"}))
        tx.add_event("i1", TimelineEvent(T0, "notify.ok", "paged", {}))
        tx.add_event("i1", TimelineEvent(T0, "playbook.done", "done", {}))

    await store.transaction(write)


async def test_incident_page_is_newest_first_with_alert_counts_and_filters(store: Any) -> None:
    """incident_page: newest first, the alert count of each, severity filter, LIMIT and OFFSET."""
    await _two_incidents(store)
    page = await store.read(lambda tx: tx.incident_page(status=None, severity=None, alertname=None, limit=10))
    assert [(i.id, n, i.alerts) for i, n in page] == [("i2", 0, ()), ("i1", 5, ())]
    p0 = await store.read(lambda tx: tx.incident_page(status=None, severity="P0", alertname=None, limit=10))
    assert [i.id for i, _ in p0] == ["i2"]
    second = await store.read(lambda tx: tx.incident_page(status=None, severity=None, alertname=None, limit=1,
                                                           offset=1))
    assert [i.id for i, _ in second] == ["i1"]


async def test_alerts_page_follows_the_keyset(store: Any) -> None:
    """alerts_page returns alerts by fingerprint after the given one, with their generatorURL."""
    await _two_incidents(store)
    first = await store.read(lambda tx: tx.alerts_page("i1", 2))
    after = await store.read(lambda tx: tx.alerts_page("i1", 10, first[-1][0].fingerprint))
    assert [a.fingerprint for a, _ in first] == ["f0", "f1"]
    assert [a.fingerprint for a, _ in after] == ["f2", "f3", "f4"]
    assert await store.read(lambda tx: tx.alert_count("i1")) == 5


async def test_timeline_page_filters_by_kind_newest_first(store: Any) -> None:
    """timeline_page with kinds returns only those events, newest first; without, every event."""
    await _two_incidents(store)
    steps = await store.read(lambda tx: tx.timeline_page("i1", 10, kinds=("step.", "playbook.")))
    assert [e.kind for e in steps] == ["playbook.done", "step.ok", "step.started"]
    assert len(await store.read(lambda tx: tx.timeline_page("i1", 100))) == 9
    assert [e.kind for e in await store.read(lambda tx: tx.timeline_page("i1", 2, 1))] == ["notify.ok", "step.ok"]


async def test_playbook_progress_counts_finished_steps(store: Any) -> None:
    """playbook_progress: one finished step and the playbook done for i1; nothing for i2."""
    await _two_incidents(store)
    assert await store.read(lambda tx: tx.playbook_progress(["i1", "i2"])) == {"i1": (1, "done")}


async def test_latest_change_grows_with_each_event(store: Any) -> None:
    """latest_change grows when an event is added to any incident."""
    await _two_incidents(store)
    before = await store.read(lambda tx: tx.latest_change())
    await store.transaction(lambda tx: tx.add_event("i2", TimelineEvent(T0, "incident.acknowledged", "ack", {})))
    assert await store.read(lambda tx: tx.latest_change()) > before


async def test_audit_page_is_newest_first(store: Any) -> None:
    """audit_page lists the chain's records newest first."""
    await _two_incidents(store)
    rows = await store.read(lambda tx: tx.audit_page(3))
    assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), reverse=True) and len(rows) == 3


async def test_a_session_is_found_until_it_expires_and_not_after_sign_out(store: Any) -> None:
    """A console session is found by its hash until expires_at, and no more once deleted."""
    row = sessions.SessionRow("tok1", "csrf", T0, T0 + 60)
    await store.transaction(lambda tx: sessions.insert(tx, "h1", row))
    assert await store.read(lambda tx: sessions.by_hash(tx, "h1", T0 + 59)) == row
    assert await store.read(lambda tx: sessions.by_hash(tx, "h1", T0 + 61)) is None
    assert await store.transaction(lambda tx: sessions.delete(tx, "h1"))
    assert await store.read(lambda tx: sessions.by_hash(tx, "h1", T0)) is None
