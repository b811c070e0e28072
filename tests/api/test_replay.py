"""Replayed signed requests change nothing: Slack signatures and PagerDuty event ids are used once, and
PagerDuty events older than the incident's last opening are refused (receiver.api.replay)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

from tests.conftest import PD_SECRET, SLACK_SECRET, alert, payload
from tests.incidents.test_ack import opened, pd_request, slack_request

REFIRED = "2026-11-22T02:00:00Z"


async def status(rb: Any, incident_id: str) -> str:
    return str((await rb.api(f"/api/v1/incidents/{incident_id}"))["status"])


async def reopen(rb: Any, incident_id: str) -> None:
    """Resolve the incident from the API, then let its alert fire again (a new episode) a minute later."""
    assert (await rb.api_post(f"/api/v1/incidents/{incident_id}/resolve")).status == 200
    await rb.run()
    rb.clock.advance(60)
    await rb.post_alerts(payload(alert(starts_at=REFIRED)))
    await rb.run()
    assert await status(rb, incident_id) == "firing"


def slack_command(rb: Any, text: str) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"command": "/runbookd", "text": text, "user_name": "alice"}).encode()
    stamp = str(int(rb.clock.now()))
    sig = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return body, {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig,
                  "Content-Type": "application/x-www-form-urlencoded"}


async def test_a_slack_click_replayed_within_its_window_changes_nothing(
        fakes: Any, make_runbookd: Any, backend: dict[str, Any]) -> None:
    """A captured Resolve click sent again 2 minutes later, after the incident reopened, is answered 200
    and leaves the reopened incident firing."""
    rb = await make_runbookd(fakes, **backend)
    inc = await opened(rb)
    body, headers = slack_request(rb, inc["id"], "incident_resolve")
    assert (await rb.client.post("/slack/interactions", data=body, headers=headers)).status == 200
    await rb.run()
    assert await status(rb, inc["id"]) == "resolved"
    rb.clock.advance(60)
    await rb.post_alerts(payload(alert(starts_at=REFIRED)))
    await rb.run()
    assert await status(rb, inc["id"]) == "firing"
    rb.clock.advance(60)
    r = await rb.client.post("/slack/interactions", data=body, headers=headers)
    assert r.status == 200
    await rb.run()
    assert await status(rb, inc["id"]) == "firing"


async def test_a_replayed_slack_click_is_refused_by_another_replica(
        fakes: Any, make_runbookd: Any, backend: dict[str, Any]) -> None:
    """The signatures seen are in the store: a click applied by one runbookd, replayed to a second one on
    the same database, changes nothing there either."""
    rb = await make_runbookd(fakes, **backend)
    other = await make_runbookd(fakes, **backend)
    inc = await opened(rb)
    body, headers = slack_request(rb, inc["id"], "incident_resolve")
    assert (await rb.client.post("/slack/interactions", data=body, headers=headers)).status == 200
    await rb.run()
    await rb.post_alerts(payload(alert(starts_at=REFIRED)))
    await rb.run()
    assert await status(rb, inc["id"]) == "firing"
    assert (await other.client.post("/slack/interactions", data=body, headers=headers)).status == 200
    assert await status(other, inc["id"]) == "firing"


async def test_a_replayed_slack_pause_command_changes_nothing(
        fakes: Any, make_runbookd: Any, backend: dict[str, Any]) -> None:
    """``/runbookd pause`` replayed after someone resumed does not pause automation again; the answer
    says the command was already received."""
    rb = await make_runbookd(fakes, **backend)
    pause, pause_headers = slack_command(rb, "pause maintenance")
    assert (await rb.client.post("/slack/commands", data=pause, headers=pause_headers)).status == 200
    rb.clock.advance(1)
    resume, resume_headers = slack_command(rb, "resume")
    assert (await rb.client.post("/slack/commands", data=resume, headers=resume_headers)).status == 200
    r = await rb.client.post("/slack/commands", data=pause, headers=pause_headers)
    assert r.status == 200
    assert (await r.json())["text"] == "This command was already received."
    rb.clock.advance(1)
    check, check_headers = slack_command(rb, "status")
    r = await rb.client.post("/slack/commands", data=check, headers=check_headers)
    assert (await r.json())["text"].startswith("Automation is running.")


async def test_a_pagerduty_event_delivered_twice_is_applied_once(
        fakes: Any, make_runbookd: Any, backend: dict[str, Any]) -> None:
    """A resolve event whose id was seen, replayed after the incident reopened (its ``occurred_at`` is not
    older than the reopening), is answered ``duplicate`` and leaves the incident firing."""
    rb = await make_runbookd(fakes, **backend)
    inc = await opened(rb)
    body, headers = pd_request(inc["id"], "incident.resolved", at=rb.clock.now() + 3600)
    assert (await (await rb.client.post("/webhook/pagerduty", data=body, headers=headers)).json()) == {"status": "ok"}
    await rb.run()
    assert await status(rb, inc["id"]) == "resolved"
    rb.clock.advance(60)
    await rb.post_alerts(payload(alert(starts_at=REFIRED)))
    await rb.run()
    r = await rb.client.post("/webhook/pagerduty", data=body, headers=headers)
    assert r.status == 200 and (await r.json()) == {"status": "duplicate"}
    assert await status(rb, inc["id"]) == "firing"


async def test_a_pagerduty_event_older_than_the_reopening_is_refused_and_recorded(
        fakes: Any, make_runbookd: Any, backend: dict[str, Any]) -> None:
    """A correctly signed ack that occurred before the incident reopened (a captured one, with a new id)
    is answered ``stale``, leaves the incident firing and says why on the timeline; an ack that
    occurred after the reopening acknowledges it."""
    rb = await make_runbookd(fakes, **backend)
    inc = await opened(rb)
    before = rb.clock.now() + 30
    rb.clock.advance(60)
    await reopen(rb, inc["id"])
    body, headers = pd_request(inc["id"], "incident.acknowledged", at=before)
    r = await rb.client.post("/webhook/pagerduty", data=body, headers=headers)
    assert r.status == 200 and (await r.json()) == {"status": "stale"}
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    assert detail["status"] == "firing"
    [stale] = [e for e in detail["timeline"] if e["kind"] == "pagerduty.stale"]
    assert "predates the incident's opening" in stale["message"] and stale["data"]["by"] == "Bob Oncall"
    body, headers = pd_request(inc["id"], "incident.acknowledged", at=rb.clock.now() + 5)
    assert (await (await rb.client.post("/webhook/pagerduty", data=body, headers=headers)).json()) == {"status": "ok"}
    assert await status(rb, inc["id"]) == "acknowledged"


async def test_a_pagerduty_event_without_id_or_occurred_at_is_a_400_naming_it(
        fakes: Any, make_runbookd: Any) -> None:
    """An event runbookd would apply must carry ``id`` and an RFC 3339 ``occurred_at``; else 400 with the field."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    for field, value in (("id", None), ("occurred_at", None), ("occurred_at", "yesterday")):
        event = json.loads(pd_request(inc["id"])[0])
        event["event"][field] = value
        body = json.dumps(event).encode()
        sig = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
        r = await rb.client.post("/webhook/pagerduty", data=body, headers={"X-PagerDuty-Signature": sig})
        assert r.status == 400
        assert (await r.json())["field"] == f"event.{field}"
    assert await status(rb, inc["id"]) == "firing"
