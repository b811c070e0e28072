"""Store contract: what every backend must do (alerts, incidents, timeline, work rows, leases)."""

from __future__ import annotations

from typing import Any

from receiver.model import AlertRecord, Incident, IncidentAlert, TimelineEvent

T0 = 1_800_000_000.0


def rec(fp: str = "f1", status: str = "firing", starts: str = "2026-11-22T01:00:00.000000Z",
        ends: float | None = None) -> AlertRecord:
    return AlertRecord(fp, starts, status, {"alertname": "X"}, {}, T0 - 60, ends)  # type: ignore[arg-type]


def incident(iid: str = "i1", identity: str = "rule|x") -> Incident:
    return Incident(iid, identity, "rule", "P1", "firing", {"alertname": "X"}, "X", None, "v1", T0, T0)


async def test_new_alert_is_stored_and_pending(store: Any) -> None:
    """A new alert is inserted and waits to be processed."""
    assert await store.ingest([rec()], T0) == 1
    pending = await store.transaction(lambda tx: tx.claim_pending_alerts(10))
    assert [(a.fingerprint, a.status) for a in pending] == [("f1", "firing")]


async def test_resent_alert_changes_nothing(store: Any) -> None:
    """The same fingerprint and startsAt re-sent is the same alert: no change, nothing pending."""
    await store.ingest([rec()], T0)
    await store.transaction(lambda tx: tx.mark_alerts_processed([("f1", "2026-11-22T01:00:00.000000Z")]))
    assert await store.ingest([rec()], T0 + 1) == 0
    assert await store.transaction(lambda tx: tx.claim_pending_alerts(10)) == []


async def test_resolve_applies_and_stale_firing_is_rejected(store: Any) -> None:
    """firing → resolved applies; a later stale 'firing' for the same episode changes nothing."""
    await store.ingest([rec()], T0)
    assert await store.ingest([rec(status="resolved", ends=T0)], T0 + 1) == 1
    assert await store.ingest([rec()], T0 + 2) == 0
    [a] = await store.transaction(lambda tx: tx.claim_pending_alerts(10))
    assert a.status == "resolved"


async def test_new_episode_is_a_new_alert(store: Any) -> None:
    """The same fingerprint with a new startsAt is a new alert row."""
    await store.ingest([rec()], T0)
    assert await store.ingest([rec(starts="2026-11-22T02:00:00.000000Z")], T0) == 1


async def test_concurrent_ingests_each_get_their_count(store: Any) -> None:
    """Group commit: concurrent requests each learn how many of their own rows changed."""
    import asyncio

    counts = await asyncio.gather(*(store.ingest([rec(f"fp{i}"), rec("shared")], T0) for i in range(20)))
    assert sum(counts) == 21
    assert all(c in (1, 2) for c in counts)


async def test_open_incident_identity_is_unique(store: Any) -> None:
    """Only one unresolved incident per identity can exist."""
    import pytest

    from receiver.errors import StoreError

    await store.transaction(lambda tx: tx.insert_incident(incident("i1")))
    with pytest.raises(StoreError):
        await store.transaction(lambda tx: tx.insert_incident(incident("i2")))
    await store.transaction(lambda tx: tx.update_incident("i1", status="resolved", resolved_at=T0 + 5))
    await store.transaction(lambda tx: tx.insert_incident(incident("i2")))
    found = await store.read(lambda tx: tx.find_incident("rule|x", open_only=True))
    assert found.id == "i2"


async def test_incident_alert_newer_episode_wins(store: Any) -> None:
    """An incident tracks alerts by fingerprint; an older episode never overwrites a newer one."""
    await store.transaction(lambda tx: tx.insert_incident(incident()))
    new = IncidentAlert("f1", "2026-11-22T02:00:00.000000Z", "firing", {}, {}, T0 + 60)
    old = IncidentAlert("f1", "2026-11-22T01:00:00.000000Z", "resolved", {}, {}, T0, T0 + 1)
    await store.transaction(lambda tx: tx.upsert_incident_alert("i1", new))
    await store.transaction(lambda tx: tx.upsert_incident_alert("i1", old))
    inc = await store.read(lambda tx: tx.get_incident("i1"))
    assert [(a.starts_at, a.status) for a in inc.alerts] == [(new.starts_at, "firing")]


async def test_incident_alert_shows_its_episode_labels_and_annotations(store: Any) -> None:
    """An incident's alert carries the labels and annotations of its episode as ingest stored them
    (read from the alert's row, schema version 7), including annotations updated when it resolved."""
    starts = "2026-11-22T01:00:00.000000Z"
    labels = {"alertname": "X", "instance": "db-1:9100"}
    firing = AlertRecord("f1", starts, "firing", labels, {"summary": "down"}, T0 - 60, None)
    resolved = AlertRecord("f1", starts, "resolved", labels, {"summary": "back up"}, T0 - 60, T0)
    await store.transaction(lambda tx: tx.insert_incident(incident()))
    await store.ingest([firing], T0)
    await store.transaction(lambda tx: tx.track_alert("i1", IncidentAlert(
        "f1", starts, "firing", labels, {"summary": "down"}, T0 - 60)))
    inc = await store.read(lambda tx: tx.get_incident("i1"))
    assert [(a.labels, a.annotations) for a in inc.alerts] == [(labels, {"summary": "down"})]
    await store.ingest([resolved], T0 + 1)
    await store.transaction(lambda tx: tx.upsert_incident_alert("i1", IncidentAlert(
        "f1", starts, "resolved", labels, {"summary": "back up"}, T0 - 60, T0)))
    one = await store.read(lambda tx: tx.incident_alert("i1", "f1"))
    assert (one.status, one.labels, one.annotations) == ("resolved", labels, {"summary": "back up"})


async def test_track_alert_says_what_changed(store: Any) -> None:
    """``track_alert`` tells a new alert of the incident from a newer episode, and changes nothing for
    the same episode re-sent or an older one arriving late."""
    from receiver.simulate.memory import MemoryTx

    first = IncidentAlert("f1", "2026-11-22T01:00:00.000000Z", "firing", {"alertname": "X"}, {}, T0)
    newer = IncidentAlert("f1", "2026-11-22T02:00:00.000000Z", "firing", {"alertname": "X"}, {}, T0 + 3600)
    steps = [(first, "joined"), (first, None), (newer, "refired"), (first, None)]
    await store.transaction(lambda tx: tx.insert_incident(incident()))
    got = [await store.transaction(lambda tx, a=a: tx.track_alert("i1", a)) for a, _ in steps]
    assert got == [want for _, want in steps]
    inc = await store.read(lambda tx: tx.get_incident("i1"))
    assert [a.starts_at for a in inc.alerts] == [newer.starts_at]
    names = await store.read(lambda tx: tx.list_incidents(status=None, alertname="X", limit=10))
    assert [i.id for i in names] == ["i1"]
    memory = MemoryTx()  # the simulator's store answers the same
    memory.insert_incident(incident())
    assert [memory.track_alert("i1", a) for a, _ in steps] == [want for _, want in steps]


async def test_timeline_keeps_insertion_order(store: Any) -> None:
    """Timeline events come back oldest first, in the order they were added, even with equal times."""
    await store.transaction(lambda tx: tx.insert_incident(incident()))

    def add(tx: Any) -> None:
        for i in range(5):
            tx.add_event("i1", TimelineEvent(T0, f"k{i}", f"m{i}", {"i": i}))

    await store.transaction(add)
    events = await store.read(lambda tx: tx.timeline("i1"))
    assert [e.kind for e in events] == ["k0", "k1", "k2", "k3", "k4"]
    assert events[3].data == {"i": 3}


async def test_enqueue_is_idempotent_by_key(store: Any) -> None:
    """A work row's key is its idempotency key: enqueuing it twice adds it once."""
    added = await store.transaction(lambda tx: [tx.enqueue("k", "page", "i1", {}, T0, T0) for _ in range(3)])
    assert added == [True, False, False]


async def test_rows_are_claimed_only_when_due(store: Any) -> None:
    """A row is claimed at its due time, not before, and by one claimer only."""
    await store.transaction(lambda tx: tx.enqueue("k", "page", "i1", {"x": 1}, T0 + 60, T0))
    assert await store.transaction(lambda tx: tx.claim_jobs(T0 + 59, 10, "a", 30)) == []
    [job] = await store.transaction(lambda tx: tx.claim_jobs(T0 + 60, 10, "a", 30))
    assert (job.key, job.payload, job.attempts, job.takeover) == ("k", {"x": 1}, 1, False)
    assert await store.transaction(lambda tx: tx.claim_jobs(T0 + 61, 10, "b", 30)) == []


async def test_expired_lease_is_taken_over(store: Any) -> None:
    """A running row whose lease ran out is claimed again and marked as a takeover."""
    await store.transaction(lambda tx: tx.enqueue("k", "step", "i1", {}, T0, T0))
    await store.transaction(lambda tx: tx.claim_jobs(T0, 10, "a", 30))
    assert await store.transaction(lambda tx: tx.claim_jobs(T0 + 29, 10, "b", 30)) == []
    [job] = await store.transaction(lambda tx: tx.claim_jobs(T0 + 31, 10, "b", 30))
    assert job.takeover and job.attempts == 2


async def test_renewed_lease_is_not_taken_over(store: Any) -> None:
    """A claimer that renews its lease keeps its row."""
    await store.transaction(lambda tx: tx.enqueue("k", "step", "i1", {}, T0, T0))
    [job] = await store.transaction(lambda tx: tx.claim_jobs(T0, 10, "a", 30))
    await store.transaction(lambda tx: tx.renew_leases([job.id], "a", T0 + 90))
    assert await store.transaction(lambda tx: tx.claim_jobs(T0 + 60, 10, "b", 30)) == []


async def test_finished_and_cancelled_rows_are_never_claimed(store: Any) -> None:
    """done, failed and cancelled rows stay put; retry puts a row back at its new due time."""
    def setup(tx: Any) -> None:
        for k in ("a", "b", "c"):
            tx.enqueue(k, "page", "i1", {}, T0, T0)

    await store.transaction(setup)
    jobs = await store.transaction(lambda tx: tx.claim_jobs(T0, 10, "x", 30))
    await store.transaction(lambda tx: tx.finish_job(jobs[0].id, "done", T0))
    await store.transaction(lambda tx: tx.retry_job(jobs[1].id, T0 + 100, T0))
    await store.transaction(lambda tx: tx.finish_job(jobs[2].id, "failed", T0))
    assert await store.transaction(lambda tx: tx.claim_jobs(T0 + 99, 10, "x", 30)) == []
    [again] = await store.transaction(lambda tx: tx.claim_jobs(T0 + 100, 10, "x", 30))
    assert again.key == "b"


async def test_cancel_jobs_only_touches_pending_rows_of_kinds(store: Any) -> None:
    """Cancelling pages leaves steps and rows already running alone."""
    def setup(tx: Any) -> None:
        tx.enqueue("p1", "page", "i1", {}, T0 + 300, T0)
        tx.enqueue("s1", "step", "i1", {}, T0 + 300, T0)
        tx.enqueue("p2", "page", "i1", {}, T0, T0)

    await store.transaction(setup)
    await store.transaction(lambda tx: tx.claim_jobs(T0, 10, "x", 30))  # p2 now running
    assert await store.transaction(lambda tx: tx.cancel_jobs("i1", ("page",), T0)) == 1
    states = {j.key: j.state for j in await store.read(lambda tx: tx.jobs_of("i1"))}
    assert states == {"p1": "cancelled", "s1": "pending", "p2": "running"}


async def test_page_refs_round_trip(store: Any) -> None:
    """The provider reference of a page is kept per incident and receiver."""
    await store.transaction(lambda tx: tx.set_page_ref("i1", "slack-critical", "C1:123.4"))
    assert await store.read(lambda tx: tx.page_ref("i1", "slack-critical")) == "C1:123.4"
    assert await store.read(lambda tx: tx.page_ref("i1", "other")) is None


async def test_data_survives_reopen(store: Any, tmp_path: Any) -> None:
    """What was committed is there after the store is closed and opened again."""
    from receiver.store import SqliteStore

    await store.ingest([rec()], T0)
    if isinstance(store, SqliteStore):
        again = SqliteStore(store.path)
        await again.open()
        try:
            assert len(await again.transaction(lambda tx: tx.claim_pending_alerts(10))) == 1
        finally:
            await again.close()


async def test_a_quarantined_alert_is_never_claimed_but_its_newer_state_is(store: Any) -> None:
    """``quarantine_alert`` sets the pending state aside for good, with its reason; a resolve that comes
    later is pending again (tried on its own), and a state that changed meanwhile is not quarantined."""
    await store.ingest([rec()], T0)
    starts = "2026-11-22T01:00:00.000000Z"
    assert not await store.transaction(lambda tx: tx.quarantine_alert("f1", starts, "resolved", "why"))
    assert await store.transaction(lambda tx: tx.quarantine_alert("f1", starts, "firing", "bad value"))
    assert await store.transaction(lambda tx: tx.claim_pending_alerts(10)) == []
    assert await store.read(lambda tx: tx.quarantined_alerts()) == [("f1", starts, "firing", "bad value")]
    await store.ingest([rec(status="resolved", ends=T0)], T0 + 1)
    [a] = await store.transaction(lambda tx: tx.claim_pending_alerts(10))
    assert a.status == "resolved"
    assert await store.read(lambda tx: tx.quarantined_alerts()) == []


async def test_oldest_pending_at_is_the_first_unprocessed_change(store: Any) -> None:
    """``oldest_pending_at`` is when the oldest pending state was stored, ``None`` once all are processed."""
    assert await store.read(lambda tx: tx.oldest_pending_at()) is None
    await store.ingest([rec("f1")], T0)
    await store.ingest([rec("f2")], T0 + 5)
    assert await store.read(lambda tx: tx.oldest_pending_at()) == T0
    starts = "2026-11-22T01:00:00.000000Z"
    await store.transaction(lambda tx: tx.mark_alerts_processed([("f1", starts), ("f2", starts)]))
    assert await store.read(lambda tx: tx.oldest_pending_at()) is None


async def test_a_truncated_body_reapplies_the_states_it_shows(store: Any) -> None:
    """A body that left alerts out (``truncated``) makes the same state pending again, with its count and
    group; so does the first complete body after it, and then re-sends change nothing. A stale firing in
    a truncated body never moves a resolved alert back."""
    from dataclasses import replace

    starts = "2026-11-22T01:00:00.000000Z"
    done = lambda tx: tx.mark_alerts_processed([("f1", starts)])  # noqa: E731
    await store.ingest([replace(rec(), truncated=2, group_key="{}:{a=\"b\"}")], T0)
    await store.transaction(done)
    assert await store.ingest([replace(rec(), truncated=2, group_key="{}:{a=\"b\"}")], T0 + 1) == 1
    [a] = await store.transaction(lambda tx: tx.claim_pending_alerts(10))
    assert (a.truncated, a.group_key) == (2, '{}:{a="b"}')
    await store.transaction(done)
    assert await store.ingest([rec()], T0 + 2) == 1
    [a] = await store.transaction(lambda tx: tx.claim_pending_alerts(10))
    assert (a.truncated, a.group_key) == (0, "")
    await store.transaction(done)
    assert await store.ingest([rec()], T0 + 3) == 0
    await store.ingest([replace(rec(status="resolved", ends=T0), truncated=1)], T0 + 4)
    await store.transaction(done)
    assert await store.ingest([replace(rec(), truncated=1)], T0 + 5) == 0
    assert await store.transaction(lambda tx: tx.claim_pending_alerts(10)) == []


async def test_an_odd_group_key_or_a_huge_truncated_count_is_stored(store: Any) -> None:
    """A truncated body's group key with a NUL or a lone surrogate, and a count past 32 bits, are stored
    (replaced, capped) instead of failing the commit of the whole batch."""
    from dataclasses import replace

    odd = replace(rec(), truncated=10**12, group_key="{}:{a=\"\x00\udc80\"}")
    assert await store.ingest([odd, rec("f2")], T0) == 2
    [a] = [x for x in await store.transaction(lambda tx: tx.claim_pending_alerts(10)) if x.fingerprint == "f1"]
    assert (a.truncated, a.group_key) == (2**31 - 1, '{}:{a="\ufffd?"}')


async def test_response_report_aggregates_by_severity(store: Any) -> None:
    """``response_report``: per severity, incidents started in the window, MTTA/MTTR from their start
    (unacknowledged and open ones left out of the means) and the breaches on their timelines."""
    def write(tx: Any) -> None:
        tx.insert_incident(incident("a", "r|a"))
        tx.update_incident("a", acknowledged_at=T0 + 600, resolved_at=T0 + 1800, status="resolved")
        tx.insert_incident(incident("b", "r|b"))
        tx.update_incident("b", acknowledged_at=T0 + 1200)
        tx.add_event("b", TimelineEvent(T0 + 900, "response.breached", "missed", {}))
        tx.insert_incident(incident("c", "r|c"))  # open, unacknowledged
        old = incident("d", "r|d")
        tx.insert_incident(Incident(old.id, old.identity, old.rule, "P0", "resolved", {}, "X", None, "v1",
                                    T0 - 7200, T0 - 7200, resolved_at=T0 - 7000))

    await store.transaction(write)
    report = await store.read(lambda tx: tx.response_report(T0 - 3600, T0 + 3600))
    assert report == {"P1": {"incidents": 3, "acknowledged": 2, "mtta_seconds": 900.0, "resolved": 1,
                             "mttr_seconds": 1800.0, "breaches": 1}}
