"""The ``/runbookd`` slash command: help, incidents, status, resume, with Slack's response types."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from tests.conftest import SLACK_SECRET, alert, payload

PEOPLE = [{"name": "ada", "role": "admin", "slack_users": ["U0ADA"]},
          {"name": "vera", "role": "viewer", "slack_users": ["U0VERA"]}]


async def command(rb: Any, user: str, text: str) -> dict[str, Any]:
    body = urlencode({"command": "/runbookd", "text": text, "user_id": user, "user_name": user.lower()}).encode()
    stamp = str(int(rb.clock.now()))
    sig = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    r = await rb.client.post("/slack/commands", data=body, headers={
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig,
        "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200
    out: dict[str, Any] = await r.json()
    return out


async def test_help_and_unknown_subcommands_answer_the_caller_alone(make_runbookd: Any, fakes: Any) -> None:
    """``help`` (and no text, and an unknown word) is an ephemeral usage listing every subcommand."""
    rb = await make_runbookd(fakes, access={"people": PEOPLE})
    for text in ("help", "", "frobnicate"):
        out = await command(rb, "U0NOBODY", text)
        assert out["response_type"] == "ephemeral"
        for word in ("incidents", "ack ID", "resolve ID", "pause", "resume", "status", "run PLAYBOOK"):
            assert word in out["text"]


async def test_incidents_lists_open_ones_with_severity_and_age(make_runbookd: Any, fakes: Any) -> None:
    """A viewer sees the open incidents (severity, id, age, title), ephemeral; an unknown user is refused."""
    rb = await make_runbookd(fakes, access={"people": PEOPLE})
    await rb.post_alerts(payload(alert()))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    rb.clock.advance(125)
    out = await command(rb, "U0VERA", "incidents")
    assert out["response_type"] == "ephemeral"
    assert inc["id"] in out["text"] and "P0" in out["text"] and "2m5s" in out["text"]
    refused = await command(rb, "U0NOBODY", "incidents")
    assert refused["response_type"] == "ephemeral" and inc["id"] not in refused["text"]


async def test_pause_status_resume(make_runbookd: Any, fakes: Any) -> None:
    """An admin pauses (in channel, with the reason), ``status`` says so (ephemeral), ``resume`` ends it."""
    rb = await make_runbookd(fakes, access={"people": PEOPLE})
    out = await command(rb, "U0ADA", "pause broker maintenance")
    assert out["response_type"] == "in_channel"
    assert "PAUSED by ada" in out["text"] and "broker maintenance" in out["text"]
    status = await command(rb, "U0VERA", "status")
    assert status["response_type"] == "ephemeral" and "PAUSED" in status["text"]
    assert (await command(rb, "U0ADA", "resume"))["text"] == "Automation is running."
    assert (await rb.api("/api/v1/automation"))["paused"] is False
