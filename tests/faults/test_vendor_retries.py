"""Vendor faults against the whole pipeline: pages are retried durably, never lost, never doubled.

Real SQLite, the real pagerduty and slack-sdk clients over HTTP against the fakes, and the fake
clock moved by hand (tests/conftest.py). Retry delays have no jitter here so due times are exact.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import alert, payload
from tests.incidents.test_pipeline import top_level_pages

PRIMARY = "R" * 32
SECONDARY = "S" * 32
NO_JITTER = {"retry": {"jitter": "0s"}}


def triggers(fakes: Any, routing_key: str) -> list[dict[str, Any]]:
    """Trigger events PagerDuty accepted (not the refused attempts) for ``routing_key``."""
    return [e for e in fakes.pagerduty.events if e["routing_key"] == routing_key and e["event_action"] == "trigger"]


def attempts(fakes: Any, routing_key: str) -> list[dict[str, Any]]:
    return [r for r in fakes.pagerduty.calls("/v2/enqueue")
            if r["json"]["routing_key"] == routing_key and r["json"]["event_action"] == "trigger"]


async def timeline(rb: Any) -> list[dict[str, Any]]:
    [inc] = await rb.api("/api/v1/incidents")
    return list((await rb.api(f"/api/v1/incidents/{inc['id']}"))["timeline"])


def counter(rb: Any, receiver: str, outcome: str) -> float:
    return rb.c.metrics.notifications.labels(receiver=receiver, outcome=outcome)._value.get()


async def run_for(rb: Any, seconds: float, step: float = 5.0) -> None:
    t = 0.0
    while t < seconds:
        await rb.advance(step)
        t += step


async def test_p0_trigger_is_delivered_once_after_five_minutes_of_503(fakes: Any, make_runbookd: Any) -> None:
    """PagerDuty answering 503 for 5 minutes: the P0 trigger is retried all along and delivered exactly once."""
    rb = await make_runbookd(fakes, notify=NO_JITTER)
    until = rb.clock.now() + 300
    fakes.pagerduty.fail_while(lambda: rb.clock.now() < until, 503, path="/v2/enqueue")
    await rb.post_alerts(payload(alert()))
    await rb.run()
    await run_for(rb, 400)
    assert len(triggers(fakes, PRIMARY)) == 1
    failures = len(attempts(fakes, PRIMARY)) - 1
    assert failures >= 8  # 2+4+8+16+32+60+60+60+60 s of backoff: still trying at 5 minutes
    events = await timeline(rb)
    retries = [e for e in events if e["kind"] == "notify.retry" and e["data"]["receiver"] == "pagerduty-primary"]
    assert len(retries) == failures
    assert all("HTTP 503" in e["message"] for e in retries)
    assert counter(rb, "pagerduty-primary", "retry") == failures
    assert [e for e in events if e["kind"] == "notify.ok" and e["data"]["receiver"] == "pagerduty-primary"]
    assert not [e for e in events if e["kind"] == "notify.failed"]


async def test_retry_after_is_honoured(fakes: Any, make_runbookd: Any) -> None:
    """A 429 with ``Retry-After: 120`` is not retried before 120 s have passed, and is retried then."""
    rb = await make_runbookd(fakes, notify=NO_JITTER)
    fakes.pagerduty.fail_next(1, 429, path="/v2/enqueue", headers={"Retry-After": "120"})
    t0 = rb.clock.now()
    await rb.post_alerts(payload(alert()))
    await rb.run()
    await run_for(rb, 115)
    assert triggers(fakes, PRIMARY) == []
    assert len(attempts(fakes, PRIMARY)) == 1
    await run_for(rb, 10)
    [delivered] = triggers(fakes, PRIMARY)
    [retry] = [e for e in await timeline(rb) if e["kind"] == "notify.retry"]
    assert retry["data"]["retry_after"] == 120
    assert retry["data"]["due_at"] >= t0 + 120
    assert delivered["dedup_key"].startswith("runbookd-")


async def test_retry_delay_counts_from_the_attempts_end(fakes: Any, make_runbookd: Any) -> None:
    """An attempt that took 30 s (fake clock moved while PagerDuty answered) is retried 2 s after it ended."""
    rb = await make_runbookd(fakes, notify=NO_JITTER)
    fakes.pagerduty.fail_next(1, 503, path="/v2/enqueue")
    calls: list[float] = []

    def slow(record: dict[str, Any]) -> None:
        calls.append(rb.clock.now())
        if len(calls) == 1:
            rb.clock.advance(30)

    fakes.pagerduty.on_request = slow
    t0 = rb.clock.now()
    await rb.post_alerts(payload(alert()))
    await rb.run()
    [retry] = [e for e in await timeline(rb) if e["kind"] == "notify.retry"]
    assert retry["data"]["due_at"] == t0 + 30 + 2


async def test_non_retryable_error_is_not_retried_and_escalates(fakes: Any, make_runbookd: Any) -> None:
    """A 400 from PagerDuty is not retried: it is recorded, counted, and the next step is paged at once."""
    rb = await make_runbookd(fakes, notify=NO_JITTER)
    fakes.pagerduty.fail_next(1, 400, path="/v2/enqueue")
    await rb.post_alerts(payload(alert()))
    await rb.run()
    assert len(attempts(fakes, PRIMARY)) == 1
    assert len(triggers(fakes, SECONDARY)) == 1  # step 2 is due at 5m: paged now instead
    events = await timeline(rb)
    [failed] = [e for e in events if e["kind"] == "notify.failed"]
    assert "not retryable" in failed["message"] and failed["data"]["retryable"] is False
    [esc] = [e for e in events if e["kind"] == "notify.escalated"]
    assert "pagerduty-secondary" in esc["message"]
    assert counter(rb, "pagerduty-primary", "failed") == 1
    assert counter(rb, "pagerduty-primary", "escalated") == 1


async def test_past_the_deadline_the_next_step_is_paged_and_the_timeline_says_so(
        fakes: Any, make_runbookd: Any) -> None:
    """PagerDuty down past the P0 deadline (2m here): the next step is paged at once, not at its 5m."""
    rb = await make_runbookd(fakes, notify={"retry": {"jitter": "0s", "deadlines": {"P0": "2m"}}})
    t0 = rb.clock.now()
    fakes.pagerduty.fail_while(lambda: rb.clock.now() < t0 + 3600, 503, path="/v2/enqueue")
    secondary_at: list[float] = []
    fakes.pagerduty.on_request = lambda r: secondary_at.append(rb.clock.now()) if (
        r["json"]["routing_key"] == SECONDARY) else None
    await rb.post_alerts(payload(alert()))
    await rb.run()
    await run_for(rb, 150)
    events = await timeline(rb)
    [esc] = [e for e in events if e["kind"] == "notify.escalated"]
    assert esc["at"] <= _iso(t0 + 120)
    assert "step 2 (pagerduty-secondary)" in esc["message"]
    [failed] = [e for e in events if e["kind"] == "notify.failed"]
    assert "past its deadline" in failed["message"]
    # the last retry that fits the deadline fails at ~62 s (2+4+8+16+32 s); the next would fall past 2m
    assert secondary_at and t0 + 60 <= secondary_at[0] <= t0 + 120  # by the deadline, not at the step's 5m
    assert len([e for e in events if e["kind"] == "notify.retry" and
                e["data"]["receiver"] == "pagerduty-secondary"]) >= 1
    assert counter(rb, "pagerduty-primary", "escalated") == 1


async def test_acknowledged_incident_stops_the_retries(fakes: Any, make_runbookd: Any) -> None:
    """Once the incident is acknowledged, a page being retried is not attempted again."""
    rb = await make_runbookd(fakes, notify=NO_JITTER)
    t0 = rb.clock.now()
    fakes.pagerduty.fail_while(lambda: rb.clock.now() < t0 + 60, 503, path="/v2/enqueue")
    await rb.post_alerts(payload(alert()))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "alice"})
    assert r.status == 200
    await run_for(rb, 120)
    assert triggers(fakes, PRIMARY) == []
    assert len(attempts(fakes, PRIMARY)) == 1


async def test_slack_429_is_retried_after_its_retry_after_and_posted_once(fakes: Any, make_runbookd: Any) -> None:
    """Slack answering ``ratelimited`` with ``Retry-After: 30``: the page is posted once, after 30 s."""
    rb = await make_runbookd(fakes, notify=NO_JITTER)
    fakes.slack.fail_next(1, 429, path="/api/chat.postMessage", headers={"Retry-After": "30"})
    await rb.post_alerts(payload(alert()))
    await rb.run()
    await run_for(rb, 25)
    assert top_level_pages(fakes, "#critical") == [fakes.slack.calls("/api/chat.postMessage")[0]]
    await run_for(rb, 10)
    assert len(fakes.slack.messages) == 1
    [retry] = [e for e in await timeline(rb) if e["kind"] == "notify.retry"]
    assert retry["data"]["retry_after"] == 30


def _iso(epoch: float) -> str:
    from receiver.clock import iso

    return str(iso(epoch))
