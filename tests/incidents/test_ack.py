"""Acknowledge and resolve from the API, Slack buttons and PagerDuty webhooks; updates; reopen."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.conftest import PD_SECRET, SLACK_SECRET, alert, payload
from tests.incidents.test_pipeline import RESOLVED, _p, pd_events, top_level_pages


async def opened(rb: Any, *alerts: dict[str, Any]) -> dict[str, Any]:
    await rb.post_alerts(payload(*(alerts or (alert(),))))
    await rb.run()
    return (await rb.api("/api/v1/incidents"))[0]


def slack_request(rb: Any, incident_id: str, action: str = "incident_ack", *, ts: float | None = None,
                  secret: str = SLACK_SECRET) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"payload": json.dumps({
        "type": "block_actions", "user": {"id": "U123", "username": "alice"},
        "actions": [{"action_id": action, "value": incident_id}],
    })}).encode()
    stamp = str(int(rb.clock.now() if ts is None else ts))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return body, {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig,
                  "Content-Type": "application/x-www-form-urlencoded"}


def pd_request(incident_id: str, event_type: str = "incident.acknowledged",
               secret: str = PD_SECRET, *, at: float = 1_800_000_030.0,
               event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A signed v3 webhook delivery; ``at`` (epoch seconds, default 30 s after the fake clock's start) is
    its ``occurred_at``, ``event_id`` its id (default: a new one)."""
    occurred = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = json.dumps({"event": {
        "id": event_id or uuid.uuid4().hex, "event_type": event_type, "resource_type": "incident",
        "occurred_at": occurred, "agent": {"id": "PUSER", "summary": "Bob Oncall"},
        "data": {"id": "Q1", "type": "incident", "incident_key": f"runbookd-{incident_id}", "status": "acknowledged"},
    }}).encode()
    sig = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-PagerDuty-Signature": f"v1=deadbeef, {sig}", "Content-Type": "application/json"}


def thread_replies(fakes: Any) -> list[dict[str, Any]]:
    return [_p(r) for r in fakes.slack.calls("/api/chat.postMessage") if _p(r).get("thread_ts")]


async def test_api_ack_stops_escalation_and_is_reflected_everywhere(fakes: Any, make_runbookd: Any) -> None:
    """Acknowledged at 1 min: no secondary page at 5 min; PagerDuty gets an acknowledge, Slack an edit."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    rb.clock.advance(60)
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "carol"})
    assert r.status == 200
    assert (await r.json())["acknowledged_by"] == "carol"
    await rb.run()
    await rb.advance(600)
    assert [t["routing_key"] for t in pd_events(fakes, "trigger")] == ["R" * 32]
    [ack] = pd_events(fakes, "acknowledge")
    assert ack["dedup_key"] == f"runbookd-{inc['id']}"
    edits = [_p(u) for u in fakes.slack.calls("/api/chat.update")]
    assert any("carol" in str(e) for e in edits)
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    [ev] = [e for e in detail["timeline"] if e["kind"] == "incident.acknowledged"]
    assert ev["data"]["by"] == "carol" and ev["data"]["via"] == "api"


async def test_api_ack_is_idempotent_and_refused_when_resolved(fakes: Any, make_runbookd: Any) -> None:
    """A second ack changes nothing; acking a resolved incident is 409; an unknown one is 404."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack")).status == 200
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack")).status == 200
    await rb.run()
    assert len(pd_events(fakes, "acknowledge")) == 1
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/resolve")).status == 200
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack")).status == 409
    assert (await rb.api_post("/api/v1/incidents/nope/ack")).status == 404


async def test_api_resolve_resolves_pages(fakes: Any, make_runbookd: Any) -> None:
    """A person resolving from the API resolves PagerDuty and posts the resolution in Slack."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/resolve", {"by": "dave"})).status == 200
    await rb.run()
    assert len(pd_events(fakes, "resolve")) == 1
    assert any("RESOLVED" in str(m) for m in thread_replies(fakes))
    assert (await rb.api(f"/api/v1/incidents/{inc['id']}"))["status"] == "resolved"


async def test_slack_button_acknowledges_and_edits_the_page(fakes: Any, make_runbookd: Any) -> None:
    """A signed Acknowledge click acknowledges; the page is edited to show who; PagerDuty is acked."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    body, headers = slack_request(rb, inc["id"])
    r = await rb.client.post("/slack/interactions", data=body, headers=headers)
    assert r.status == 200, await r.text()
    await rb.run()
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    assert detail["status"] == "acknowledged"
    assert detail["acknowledged_by"].startswith("alice")
    [page] = top_level_pages(fakes, "#critical")
    edits = [_p(u) for u in fakes.slack.calls("/api/chat.update")]
    assert any("alice" in str(e) for e in edits)
    assert len(pd_events(fakes, "acknowledge")) == 1
    assert page is not None


async def test_slack_refusals_change_nothing(fakes: Any, make_runbookd: Any) -> None:
    """Bad signature → 401, a 6-minute-old timestamp → 401, unknown incident → 404; nothing changes."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    body, headers = slack_request(rb, inc["id"], secret="wrong-secret")
    assert (await rb.client.post("/slack/interactions", data=body, headers=headers)).status == 401
    body, headers = slack_request(rb, inc["id"], ts=rb.clock.now() - 360)
    assert (await rb.client.post("/slack/interactions", data=body, headers=headers)).status == 401
    body, headers = slack_request(rb, "0000unknown")
    assert (await rb.client.post("/slack/interactions", data=body, headers=headers)).status == 404
    body, headers = slack_request(rb, inc["id"])
    headers["X-Slack-Request-Timestamp"] = "not-a-number"
    assert (await rb.client.post("/slack/interactions", data=body, headers=headers)).status == 401
    await rb.run()
    assert (await rb.api(f"/api/v1/incidents/{inc['id']}"))["status"] == "firing"
    assert fakes.slack.count("/api/chat.update") <= 1  # only the playbook-summary edit
    assert pd_events(fakes, "acknowledge") == []


async def test_pagerduty_ack_stops_paging_without_echo(fakes: Any, make_runbookd: Any) -> None:
    """An ack in PagerDuty acknowledges the incident, edits Slack, and sends no ack back to PagerDuty."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    body, headers = pd_request(inc["id"])
    r = await rb.client.post("/webhook/pagerduty", data=body, headers=headers)
    assert r.status == 200, await r.text()
    await rb.advance(600)
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    assert (detail["status"], detail["acknowledged_by"]) == ("acknowledged", "Bob Oncall")
    assert pd_events(fakes, "acknowledge") == []
    assert [t["routing_key"] for t in pd_events(fakes, "trigger")] == ["R" * 32]
    assert any("Bob Oncall" in str(_p(u)) for u in fakes.slack.calls("/api/chat.update"))


async def test_pagerduty_webhook_refusals(fakes: Any, make_runbookd: Any) -> None:
    """Unsigned or badly signed deliveries are 401; events about other incidents are ignored."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    body, _ = pd_request(inc["id"])
    assert (await rb.client.post("/webhook/pagerduty", data=body)).status == 401
    body, headers = pd_request(inc["id"], secret="wrong")
    assert (await rb.client.post("/webhook/pagerduty", data=body, headers=headers)).status == 401
    other = json.dumps({"event": {"event_type": "incident.acknowledged", "data": {"incident_key": "x"}}}).encode()
    sig = "v1=" + hmac.new(PD_SECRET.encode(), other, hashlib.sha256).hexdigest()
    r = await rb.client.post("/webhook/pagerduty", data=other, headers={"X-PagerDuty-Signature": sig})
    assert (await r.json())["status"] == "ignored"
    assert (await rb.api(f"/api/v1/incidents/{inc['id']}"))["status"] == "firing"


async def test_status_updates_every_15_minutes_until_resolved(fakes: Any, make_runbookd: Any) -> None:
    """P0 updates go to the page's thread at 15-minute steps and stop when the incident resolves."""
    rb = await make_runbookd(fakes)
    await opened(rb)
    await rb.advance(14 * 60)
    assert [m for m in thread_replies(fakes) if "Status update:" in str(m)] == []
    await rb.advance(60)
    assert len([m for m in thread_replies(fakes) if "Status update:" in str(m)]) == 1
    await rb.advance(15 * 60)
    assert len([m for m in thread_replies(fakes) if "Status update:" in str(m)]) == 2
    await rb.post_alerts(payload(alert(**RESOLVED)))
    await rb.run()
    await rb.advance(3600)
    assert len([m for m in thread_replies(fakes) if "Status update:" in str(m)]) == 2


async def test_late_process_catches_up_once(fakes: Any, make_runbookd: Any) -> None:
    """After two hours without running, one update is sent, not eight; the next is on the 15-minute grid."""
    rb = await make_runbookd(fakes)
    await opened(rb)
    await rb.advance(2 * 3600 + 60)
    assert len([m for m in thread_replies(fakes) if "Status update:" in str(m)]) == 1
    await rb.advance(8100 - 7260 - 1)  # the grid: start + 900 + k·900; the next tick is start + 8100
    assert len([m for m in thread_replies(fakes) if "Status update:" in str(m)]) == 1
    await rb.advance(1)
    assert len([m for m in thread_replies(fakes) if "Status update:" in str(m)]) == 2


async def test_new_alert_joining_acknowledged_incident_renotifies(fakes: Any, make_runbookd: Any) -> None:
    """A new fingerprint joining an acknowledged incident pages again (Slack thread, PagerDuty trigger)."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack")
    await rb.run()
    await rb.post_alerts(payload(alert(), alert(instance="engine-2:8000", fingerprint="2222333344445555")))
    await rb.run()
    assert any("joined" in str(m) for m in thread_replies(fakes))
    assert len(pd_events(fakes, "trigger")) == 2
    assert fakes.trading.count("/admin/trading/emergency-stop") == 1


async def test_refiring_within_reopen_window_reopens(fakes: Any, make_runbookd: Any) -> None:
    """Firing again 5 minutes after resolving reopens the incident and pages again; no playbook re-run."""
    rb = await make_runbookd(fakes)
    inc = await opened(rb)
    await rb.post_alerts(payload(alert(**RESOLVED)))
    await rb.run()
    rb.clock.advance(300)
    await rb.post_alerts(payload(alert(starts_at="2026-11-22T02:00:00Z")))
    await rb.run()
    incidents = await rb.api("/api/v1/incidents")
    assert [i["id"] for i in incidents] == [inc["id"]]
    assert incidents[0]["status"] == "firing" and incidents[0]["reopened"] == 1
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    assert any(e["kind"] == "incident.reopened" for e in detail["timeline"])
    assert len(pd_events(fakes, "trigger")) == 2
    assert fakes.trading.count("/admin/trading/emergency-stop") == 1


async def test_refiring_after_reopen_window_is_a_new_incident(fakes: Any, make_runbookd: Any) -> None:
    """Past reopen_window a new episode opens a new incident and runs the playbook again."""
    rb = await make_runbookd(fakes)
    await opened(rb)
    await rb.post_alerts(payload(alert(**RESOLVED)))
    await rb.run()
    rb.clock.advance(601)
    await rb.post_alerts(payload(alert(starts_at="2026-11-22T03:00:00Z")))
    await rb.run()
    assert len(await rb.api("/api/v1/incidents")) == 2
    assert fakes.trading.count("/admin/trading/emergency-stop") == 2


def test_clock_is_fake() -> None:
    """Sanity: the suite's fake clock starts far from the wall clock, so nothing here depends on time.time()."""
    assert abs(1_800_000_000 - time.time()) > 3600
