"""The role matrix: every mutating surface × every role and an unknown user — allowed or refused, each
refusal recorded, and nothing changed by a refusal (docs/access.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from receiver.access import tokens
from receiver.store import audit
from tests.conftest import PD_SECRET, SLACK_SECRET, alert, payload

ROLES = ["viewer", "responder", "approver", "admin"]
PEOPLE = [
    {"name": "vera", "role": "viewer", "slack_users": ["U0VERA"], "pagerduty_users": ["P0VERA"]},
    {"name": "rita", "role": "responder", "slack_users": ["U0RITA"], "pagerduty_users": ["P0RITA"]},
    {"name": "abe", "role": "approver", "slack_users": ["U0ABE"], "pagerduty_users": ["P0ABE"]},
    {"name": "ada", "role": "admin", "slack_users": ["U0ADA"], "pagerduty_users": ["P0ADA"]},
]
BY_ROLE = {p["role"]: p for p in PEOPLE}
#: The lowest role each action needs (cumulative roles).
NEEDS = {"ack": "responder", "resolve": "responder", "pause": "admin", "resume": "admin", "reload": "admin"}
CASES = [("api", "ack"), ("api", "resolve"), ("api", "pause"), ("button", "ack"), ("button", "resolve"),
         ("slash", "ack"), ("slash", "resolve"), ("slash", "pause"), ("pagerduty", "ack"),
         ("pagerduty", "resolve"), ("reload", "reload")]


def slack_signed(rb: Any, body: bytes) -> dict[str, str]:
    stamp = str(int(rb.clock.now()))
    sig = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig,
            "Content-Type": "application/x-www-form-urlencoded"}


async def setup(rb: Any) -> tuple[str, dict[str, str]]:
    await rb.post_alerts(payload(alert()))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")

    def make(tx: Any) -> dict[str, str]:
        return {p["role"]: tokens.create(tx, p["name"], None, by="test", now=rb.clock.now()).secret for p in PEOPLE}

    return inc["id"], await rb.c.store.transaction(make)


async def act(rb: Any, fakes: Any, surface: str, action: str, role: str | None, iid: str,
              secrets: dict[str, str]) -> Any:
    person = BY_ROLE.get(role or "")
    user = person["slack_users"][0] if person else "U0NOBODY"
    if surface in ("api", "reload"):
        token = secrets[role] if role else "rbk_00000000_not-a-real-token"
        path = {"ack": f"/api/v1/incidents/{iid}/ack", "resolve": f"/api/v1/incidents/{iid}/resolve",
                "pause": "/api/v1/automation/pause", "reload": "/-/reload"}[action]
        return await rb.client.post(path, headers={"Authorization": f"Bearer {token}"})
    if surface == "button":
        body = urlencode({"payload": json.dumps({
            "type": "block_actions", "user": {"id": user, "username": "someone"},
            "response_url": f"{fakes.slack.url}/response/r1",
            "actions": [{"action_id": f"incident_{action}", "value": iid}]})}).encode()
        return await rb.client.post("/slack/interactions", data=body, headers=slack_signed(rb, body))
    if surface == "slash":
        text = f"{action} {iid}" if action != "pause" else "pause maintenance"
        body = urlencode({"command": "/runbookd", "text": text, "user_id": user, "user_name": "someone",
                          "response_url": f"{fakes.slack.url}/response/c1"}).encode()
        return await rb.client.post("/slack/commands", data=body, headers=slack_signed(rb, body))
    pd_user = person["pagerduty_users"][0] if person else "P0NOBODY"
    body = json.dumps({"event": {
        "id": "01ABC", "event_type": f"incident.{'acknowledged' if action == 'ack' else 'resolved'}",
        "resource_type": "incident",
        # occurred now: an event from before the incident's opening is refused as stale (receiver.api.replay)
        "occurred_at": datetime.fromtimestamp(rb.clock.now(), UTC).isoformat().replace("+00:00", "Z"),
        "agent": {"id": pd_user, "summary": "Someone"},
        "data": {"id": "Q1", "type": "incident", "incident_key": f"runbookd-{iid}"}}}).encode()
    sig = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return await rb.client.post("/webhook/pagerduty", data=body,
                                headers={"X-PagerDuty-Signature": sig, "Content-Type": "application/json"})


async def state(rb: Any, iid: str) -> tuple[str, bool]:
    inc = await rb.api(f"/api/v1/incidents/{iid}")
    return inc["status"], (await rb.api("/api/v1/automation"))["paused"]


@pytest.mark.parametrize("surface,action", CASES, ids=[f"{s}-{a}" for s, a in CASES])
@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "unknown"])
async def test_role_matrix(make_runbookd: Any, fakes: Any, surface: str, action: str, role: str | None) -> None:
    """Allowed exactly when the role reaches the action's (cumulative); a refusal changes nothing and is
    recorded (timeline or audit log); the chain still verifies."""
    rb = await make_runbookd(fakes, access={"people": PEOPLE}, reload={"allow_unauthenticated": False})
    iid, secrets = await setup(rb)
    before = await state(rb, iid)
    r = await act(rb, fakes, surface, action, role, iid, secrets)
    allowed = role is not None and ROLES.index(role) >= ROLES.index(NEEDS[action])
    after = await state(rb, iid)
    text = await r.text()
    records = await rb.c.store.read(lambda tx: list(audit.export_rows(tx._x)))
    refusals = [x for x in records if x["action"] == "access.refused"]
    if allowed:
        assert r.status == 200, text
        assert not refusals
        if action in ("ack", "resolve"):
            assert after[0] == ("acknowledged" if action == "ack" else "resolved")
            done = next(x for x in records if x["action"] == f"incident.{after[0]}")
            assert done["actor"] == BY_ROLE[role]["name"]
        elif action == "pause":
            assert after[1] is True
        else:
            assert any(x["action"] == "config.reloaded" and x["actor"] == BY_ROLE[role]["name"] for x in records)
    else:
        assert after == before
        if surface in ("api", "reload") and role is None:
            assert r.status == 401  # an unknown token is no one: nothing to record but the 401
        else:
            assert r.status in (200, 403), text
            [refusal] = refusals
            data = json.loads(refusal["data"])
            assert data.get("data", data)["action"] == action
            if role is not None:
                assert refusal["actor"] == BY_ROLE[role]["name"]
            if action in ("ack", "resolve"):
                timeline = (await rb.api(f"/api/v1/incidents/{iid}"))["timeline"]
                assert [e["kind"] for e in timeline].count("access.refused") == 1
            if surface == "button":
                assert fakes.slack.responses[-1]["response_type"] == "ephemeral"
                assert "Refused" in fakes.slack.responses[-1]["text"]
            if surface == "slash":
                assert (await r.json())["response_type"] == "ephemeral"
    assert audit.first_broken(iter(records))[0] is None


async def test_slack_group_members_act_with_the_group_role(make_runbookd: Any, fakes: Any) -> None:
    """A Slack user in a declared user group (``usergroups.users.list``) acts with its role, as
    ``<person>/<user id>``; one outside every group is refused."""
    fakes.slack.usergroups = {"S0ONCALL": ["U0MEMBER"]}
    people = [{"name": "oncall", "role": "responder", "slack_groups": ["S0ONCALL"]}]
    rb = await make_runbookd(fakes, access={"people": people})
    iid, _ = await setup_plain(rb)
    for user in ("U0OUTSIDER", "U0MEMBER"):
        body = urlencode({"payload": json.dumps({
            "type": "block_actions", "user": {"id": user, "username": user.lower()},
            "response_url": f"{fakes.slack.url}/response/r1",
            "actions": [{"action_id": "incident_ack", "value": iid}]})}).encode()
        assert (await rb.client.post("/slack/interactions", data=body, headers=slack_signed(rb, body))).status == 200
    inc = await rb.api(f"/api/v1/incidents/{iid}")
    assert inc["status"] == "acknowledged" and inc["acknowledged_by"] == "oncall/U0MEMBER"
    assert [e["data"].get("actor") for e in inc["timeline"] if e["kind"] == "access.refused"] == [
        "u0outsider (U0OUTSIDER)"]
    assert fakes.slack.calls("/api/usergroups.users.list")


async def setup_plain(rb: Any) -> tuple[str, None]:
    await rb.post_alerts(payload(alert()))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    return inc["id"], None


async def test_without_access_slack_may_not_pause(make_runbookd: Any, fakes: Any) -> None:
    """Without ``access:``, Slack users still acknowledge (as before) but pausing needs an admin."""
    rb = await make_runbookd(fakes)
    iid, _ = await setup_plain(rb)
    body = urlencode({"command": "/runbookd", "text": "pause", "user_id": "U0X", "user_name": "x"}).encode()
    r = await rb.client.post("/slack/commands", data=body, headers=slack_signed(rb, body))
    assert (await r.json())["response_type"] == "ephemeral"
    assert (await rb.api("/api/v1/automation"))["paused"] is False
    body = urlencode({"command": "/runbookd", "text": f"ack {iid}", "user_id": "U0X", "user_name": "x"}).encode()
    r = await rb.client.post("/slack/commands", data=body, headers=slack_signed(rb, body))
    assert (await r.json())["response_type"] == "in_channel"
    assert (await rb.api(f"/api/v1/incidents/{iid}"))["acknowledged_by"] == "x (U0X)"


async def test_reload_is_open_by_default_and_recorded(make_runbookd: Any, fakes: Any) -> None:
    """``reload.allow_unauthenticated`` defaults to true (as Alertmanager); the reload is audited."""
    rb = await make_runbookd(fakes)
    assert (await rb.client.post("/-/reload")).status == 200
    records = await rb.c.store.read(lambda tx: list(audit.export_rows(tx._x)))
    assert [(x["action"], x["actor"]) for x in records if x["subject"] == "rules"] == [
        ("config.reloaded", "unauthenticated")]


async def test_a_revoked_token_is_refused(make_runbookd: Any, fakes: Any) -> None:
    """A revoked personal token authenticates no one (401)."""
    from receiver.store import tokens as rows

    rb = await make_runbookd(fakes, access={"people": PEOPLE})
    new = await rb.c.store.transaction(lambda tx: tokens.create(tx, "vera", None, by="t", now=rb.clock.now()))
    auth = {"Authorization": f"Bearer {new.secret}"}
    assert (await rb.client.get("/api/v1/incidents", headers=auth)).status == 200
    await rb.c.store.transaction(lambda tx: rows.revoke(tx, new.id, rb.clock.now(), "t"))
    assert (await rb.client.get("/api/v1/incidents", headers=auth)).status == 401


async def test_body_by_cannot_impersonate(make_runbookd: Any, fakes: Any) -> None:
    """With ``access:``, the API takes the actor from the token: a different ``by`` is a 400."""
    rb = await make_runbookd(fakes, access={"people": PEOPLE})
    iid, secrets = await setup(rb)
    r = await rb.client.post(f"/api/v1/incidents/{iid}/ack", json={"by": "ada"},
                             headers={"Authorization": f"Bearer {secrets['responder']}"})
    assert r.status == 400 and (await r.json())["field"] == "by"
    assert (await rb.api(f"/api/v1/incidents/{iid}"))["status"] == "firing"
