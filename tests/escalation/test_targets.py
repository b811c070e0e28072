"""Response targets (``respond_within``), driven by the fake clock through the real Slack and PagerDuty
clients: a late acknowledgement breaches (timeline, escalation at once, counter), an early one does not,
the response-time histograms observe, the breach is a durable row, and the report and post-mortem show
the times against the targets."""

from __future__ import annotations

from typing import Any

from tests.conftest import TESTDATA, alert, payload
from tests.incidents.test_pipeline import RESOLVED, pd_events

RULES = [str(TESTDATA / "rules" / "targets.yml")]
P1 = dict(fingerprint="1111aaaa2222bbbb")


async def p1(make_runbookd: Any, fakes: Any) -> tuple[Any, dict[str, Any]]:
    rb = await make_runbookd(fakes, rule_files=RULES)
    await rb.post_alerts(payload(alert("HighErrorRate", **P1)))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    return rb, inc


def sample(rb: Any, name: str, severity: str) -> float | None:
    return rb.c.metrics.registry.get_sample_value(name, {"severity": severity})


async def kinds(rb: Any, iid: str) -> list[str]:
    return [e["kind"] for e in (await rb.api(f"/api/v1/incidents/{iid}"))["timeline"]]


async def test_late_ack_breaches_escalates_at_once_and_counts(fakes: Any, make_runbookd: Any) -> None:
    """Unacknowledged at 15 minutes (P1's target): the breach is on the timeline, PagerDuty (step 2, due
    at 30m) is paged at 15m, and the breach counter of P1 is 1."""
    rb, inc = await p1(make_runbookd, fakes)
    await rb.advance(899)
    assert pd_events(fakes, "trigger") == []
    assert "response.breached" not in await kinds(rb, inc["id"])
    await rb.advance(1)
    assert len(pd_events(fakes, "trigger")) == 1
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    [breach] = [e for e in detail["timeline"] if e["kind"] == "response.breached"]
    assert breach["message"] == ("response target missed: P1 not acknowledged within 15m; escalating to "
                                 "step 2 now (pagerduty-primary)")
    assert sample(rb, "runbookd_response_target_breaches_total", "P1") == 1.0
    await rb.advance(900)  # 30m: the step already went out, it is not paged twice; step 3 is still due at 45m
    assert len(pd_events(fakes, "trigger")) == 1


async def test_late_ack_observes_time_to_acknowledge(fakes: Any, make_runbookd: Any) -> None:
    """Acknowledged at 20 minutes: the P1 histogram observes 1200 s once."""
    rb, inc = await p1(make_runbookd, fakes)
    await rb.advance(1200)
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})).status == 200
    await rb.run()
    assert sample(rb, "runbookd_incident_time_to_acknowledge_seconds_count", "P1") == 1.0
    assert sample(rb, "runbookd_incident_time_to_acknowledge_seconds_sum", "P1") == 1200.0


async def test_early_ack_does_not_breach(fakes: Any, make_runbookd: Any) -> None:
    """Acknowledged at 10 minutes: nothing happens at 15 minutes, no breach is counted, PagerDuty is never
    paged, and the histogram observes 600 s."""
    rb, inc = await p1(make_runbookd, fakes)
    await rb.advance(600)
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})).status == 200
    await rb.advance(3600)
    assert "response.breached" not in await kinds(rb, inc["id"])
    assert sample(rb, "runbookd_response_target_breaches_total", "P1") == 0.0
    assert pd_events(fakes, "trigger") == []
    assert sample(rb, "runbookd_incident_time_to_acknowledge_seconds_sum", "P1") == 600.0


async def test_resolve_observes_time_to_resolve(fakes: Any, make_runbookd: Any) -> None:
    """Resolved by its alert at 12 minutes: the P1 time-to-resolve histogram observes 720 s, and the
    breach timer of the resolved incident does nothing."""
    rb, inc = await p1(make_runbookd, fakes)
    rb.clock.advance(720)
    await rb.post_alerts(payload(alert("HighErrorRate", **P1, **RESOLVED)))
    await rb.advance(3600)
    assert sample(rb, "runbookd_incident_time_to_resolve_seconds_sum", "P1") == 720.0
    assert sample(rb, "runbookd_incident_time_to_resolve_seconds_count", "P1") == 1.0
    assert sample(rb, "runbookd_response_target_breaches_total", "P1") == 0.0


async def test_breach_is_a_durable_row_due_at_the_target(fakes: Any, make_runbookd: Any) -> None:
    """The breach timer is a pending work row in the store, due at the opening plus respond_within."""
    rb, inc = await p1(make_runbookd, fakes)
    jobs = await rb.c.store.read(lambda tx: tx.jobs_of(inc["id"]))
    [row] = [j for j in jobs if j.kind == "target"]
    assert (row.key, row.state, row.due_at) == (f"target:{inc['id']}:0:breach", "pending", rb.clock.now() + 900)


async def test_breach_without_a_further_step_is_still_counted(fakes: Any, make_runbookd: Any) -> None:
    """A P2 (target 1h, one step) unacknowledged after 1h: the breach says every step has paged."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    await rb.post_alerts(payload(alert("HighLatency", fingerprint="2222aaaa3333bbbb")))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    await rb.advance(3600)
    msgs = [e["message"] for e in (await rb.api(f"/api/v1/incidents/{inc['id']}"))["timeline"]
            if e["kind"] == "response.breached"]
    assert msgs == ["response target missed: P2 not acknowledged within 1h; every escalation step has paged already"]
    assert sample(rb, "runbookd_response_target_breaches_total", "P2") == 1.0


async def test_no_target_no_breach_row(fakes: Any, make_runbookd: Any) -> None:
    """A severity without respond_within plans no breach row."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    await rb.post_alerts(payload(alert("DiskFilling", fingerprint="3333aaaa4444bbbb")))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    jobs = await rb.c.store.read(lambda tx: tx.jobs_of(inc["id"]))
    assert [j.key for j in jobs if j.kind == "target"] == []


async def test_response_report_gives_mtta_mttr_and_breaches_per_severity(fakes: Any, make_runbookd: Any) -> None:
    """``GET /api/v1/reports/response?since=1d``: one P1, acknowledged after 20m (breached), resolved
    after 30m, against its 15m target; severities without incidents are zero."""
    rb, inc = await p1(make_runbookd, fakes)
    await rb.advance(1200)
    await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})
    rb.clock.advance(600)
    await rb.post_alerts(payload(alert("HighErrorRate", **P1, **RESOLVED)))
    await rb.run()
    report = await rb.api("/api/v1/reports/response?since=1d")
    assert report["severities"]["P1"] == {
        "respond_within_seconds": 900.0, "incidents": 1, "acknowledged": 1, "mtta_seconds": 1200.0,
        "resolved": 1, "mttr_seconds": 1800.0, "breaches": 1}
    assert report["severities"]["P0"] == {
        "respond_within_seconds": None, "incidents": 0, "acknowledged": 0, "mtta_seconds": None,
        "resolved": 0, "mttr_seconds": None, "breaches": 0}
    later = await rb.api("/api/v1/reports/response?since=2030-01-01T00:00:00Z")
    assert later["severities"]["P1"]["incidents"] == 0


async def test_response_report_refuses_a_bad_since(fakes: Any, make_runbookd: Any) -> None:
    """A ``since`` that is neither a time nor a duration is a 400 naming the field."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    r = await rb.client.get("/api/v1/reports/response?since=yesterday",
                            headers={"Authorization": "Bearer admin-token-for-tests"})
    assert r.status == 400
    body = await r.json()
    assert body["field"] == "since" and "RFC 3339" in body["error"]


async def test_postmortem_shows_the_times_against_the_target(fakes: Any, make_runbookd: Any) -> None:
    """The post-mortem draft says the P1 target (15m) was missed, with the time to acknowledge."""
    rb, inc = await p1(make_runbookd, fakes)
    await rb.advance(1200)
    await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})
    await rb.run()
    r = await rb.client.get(f"/api/v1/incidents/{inc['id']}/postmortem",
                            headers={"Authorization": "Bearer admin-token-for-tests"})
    text = await r.text()
    assert ("- **Response target** (P1: acknowledged within 15m): **missed**; time to acknowledge 20m, "
            "time to resolve — (a breach escalated at once)") in text


def test_digest_shows_each_incident_against_its_target() -> None:
    """The daily digest line of an incident acknowledged after 20m reads the 15m target as missed."""
    from dataclasses import replace

    from receiver.escalation.context import digest_context
    from receiver.escalation.templates import Templates
    from tests.escalation.conftest import T0, sample_incident

    inc = replace(sample_incident(), severity="P1", acknowledged_at=T0 + 1200, resolved_at=T0 + 1800)
    text = Templates().render("digest.txt.j2", **digest_context([inc], since=T0 - 3600, until=T0 + 86400,
                                                                now=T0 + 86400, targets={"P1": 900.0}))
    assert "  Response: acknowledged after 20m, resolved after 30m — target 15m: missed\n" in text


def test_simulation_escalates_at_the_breach_as_serve_does() -> None:
    """``simulate`` / ``runbookd test`` play the breach too: unacknowledged, PagerDuty is paged at 15m."""
    from receiver.rules import load_rule_files
    from receiver.simulate.plan import SimAlert, plan

    rules = load_rule_files(RULES, ".")
    t0 = 1_800_000_000.0
    a = SimAlert(labels={"alertname": "HighErrorRate"}, annotations={}, starts_at=t0, fire_at=t0, resolve_at=None)
    [inc] = plan(rules, [a], until=t0 + 1000)["incidents"]
    assert [(n["receiver"], n["seconds"]) for n in inc["notifications"]] == [
        ("slack-alerts", 0.0), ("pagerduty-primary", 900.0)]


async def test_a_reopened_incident_has_its_own_target(fakes: Any, make_runbookd: Any) -> None:
    """Resolved at 2m and reopened at 5m: the first epoch's timer (15m) does nothing, the reopening's fires
    at 20m, and an ack at 25m is measured from the reopening (20 minutes)."""
    rb, inc = await p1(make_runbookd, fakes)
    rb.clock.advance(120)
    await rb.post_alerts(payload(alert("HighErrorRate", **P1, **RESOLVED)))
    await rb.run()
    rb.clock.advance(180)
    await rb.post_alerts(payload(alert("HighErrorRate", fingerprint=P1["fingerprint"],
                                       starts_at="2026-11-22T01:42:00.000000Z")))
    await rb.run()
    assert (await rb.api(f"/api/v1/incidents/{inc['id']}"))["status"] == "firing"
    await rb.advance(600)  # 15m after the first opening
    assert "response.breached" not in await kinds(rb, inc["id"])
    await rb.advance(300)  # 15m after the reopening
    assert (await kinds(rb, inc["id"])).count("response.breached") == 1
    await rb.advance(300)
    await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})
    await rb.run()
    assert sample(rb, "runbookd_incident_time_to_acknowledge_seconds_sum", "P1") == 1200.0
