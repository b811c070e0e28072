"""The two-person rule end to end with the fake Slack: ``approval: {required: 2}`` needs two distinct
approvers; one approval, or the same person twice, is not enough."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from receiver.store import audit
from tests.api.test_slack_commands import command as slash_command
from tests.conftest import SLACK_SECRET, alert, payload

RULES = """
rules:
  - name: two-person
    matchers: ['alertname="Flatten"']
    severity: P1
    playbook: guarded-halt
playbooks:
  guarded-halt:
    steps:
      - name: halt
        action: http
        url: "{{ vars.trading_api_url }}/admin/orchestrate/halt"
        headers: {X-Admin-Token: "{{ secrets.trading_admin_token }}"}
        json: {reason: "{{ alert.labels.alertname }}"}
        approval: {required: 2, approvers: [ada, abe, rita], timeout: 10m, on_timeout: reject}
receivers:
  - name: slack-alerts
    slack: {channel: "#alerts"}
escalation_policies:
  P1:
    steps:
      - after: 0s
        notify: [slack-alerts]
"""
PEOPLE = [{"name": "ada", "role": "approver", "slack_users": ["U0ADA"]},
          {"name": "abe", "role": "admin", "slack_users": ["U0ABE"]},
          {"name": "rita", "role": "responder", "slack_users": ["U0RITA"]}]


_CLICKS = itertools.count(1)


async def click(rb: Any, fakes: Any, user: str, value: str, action: str = "step_approve") -> int:
    """Click a button as ``user``; each click is a distinct request (its own ``trigger_id``, as Slack sends),
    so a second click is not a replay of the first."""
    body = urlencode({"payload": json.dumps({
        "type": "block_actions", "user": {"id": user, "username": user.lower()}, "trigger_id": f"t{next(_CLICKS)}",
        "response_url": f"{fakes.slack.url}/response/x",
        "actions": [{"action_id": action, "value": value}]})}).encode()
    stamp = str(int(rb.clock.now()))
    sig = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    r = await rb.client.post("/slack/interactions", data=body, headers={
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig,
        "Content-Type": "application/x-www-form-urlencoded"})
    await rb.run()
    return int(r.status)


async def test_two_distinct_approvers_are_needed(make_runbookd: Any, fakes: Any, tmp_path: Path) -> None:
    """One approval waits; the same approver again is a 409; a responder is refused; a second, distinct
    approver runs the step once; every answer is on the timeline and the audit chain verifies."""
    (tmp_path / "two.yml").write_text(RULES)
    rb = await make_runbookd(fakes, rule_files=[str(tmp_path / "two.yml")], access={"people": PEOPLE})
    await rb.post_alerts(payload(alert("Flatten")))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    buttons = [m for m in fakes.slack.posts() if "step_approve" in json.dumps(m.get("blocks"))]
    assert len(buttons) == 1
    value = f"{inc['id']}|0"
    halts = "/admin/orchestrate/halt"

    assert await click(rb, fakes, "U0ADA", value) == 200
    assert fakes.trading.hits(halts) == 0
    assert await click(rb, fakes, "U0ADA", value) == 409
    assert fakes.trading.hits(halts) == 0
    assert await click(rb, fakes, "U0RITA", value) == 200  # refused: a responder answers no approval
    assert fakes.trading.hits(halts) == 0
    assert await click(rb, fakes, "U0ABE", value) == 200
    assert fakes.trading.hits(halts) == 1

    timeline = (await rb.api(f"/api/v1/incidents/{inc['id']}"))["timeline"]
    answers = [(e["kind"], e["data"].get("by") or e["data"].get("actor")) for e in timeline
               if e["kind"].startswith(("approval.", "access."))]
    assert answers == [("approval.requested", None), ("approval.approved", "ada"), ("access.refused", "rita"),
                       ("approval.approved", "abe")]
    assert [e["message"] for e in timeline if e["kind"] == "approval.approved"][0].endswith("(1 of 2)")
    assert "step.ok" in [e["kind"] for e in timeline]
    records = await rb.c.store.read(lambda tx: list(audit.export_rows(tx._x)))
    assert audit.first_broken(iter(records))[0] is None


async def test_one_approval_is_not_enough_before_the_timeout(make_runbookd: Any, fakes: Any, tmp_path: Path) -> None:
    """With one approval of two at the deadline, ``on_timeout: reject`` applies: the step never runs."""
    (tmp_path / "two.yml").write_text(RULES)
    rb = await make_runbookd(fakes, rule_files=[str(tmp_path / "two.yml")], access={"people": PEOPLE})
    await rb.post_alerts(payload(alert("Flatten")))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    assert await click(rb, fakes, "U0ADA", f"{inc['id']}|0") == 200
    await rb.advance(601)
    assert fakes.trading.hits("/admin/orchestrate/halt") == 0
    kinds = [e["kind"] for e in (await rb.api(f"/api/v1/incidents/{inc['id']}"))["timeline"]]
    assert "approval.timeout" in kinds and "step.rejected" in kinds


def test_required_more_than_approvers_is_a_load_error() -> None:
    """``required`` larger than the listed ``approvers`` fails at load (``runbookd check``)."""
    import pytest
    from pydantic import ValidationError

    from receiver.rules.safety import Approval

    with pytest.raises(ValidationError, match="only 1 approvers"):
        Approval(approvers=["ada"], required=2, on_timeout="reject")


async def command(rb: Any, user: str, text: str) -> dict[str, Any]:
    """Run a slash command as ``user``, then let the dispatcher do what it enqueued."""
    out = await slash_command(rb, user, text)
    await rb.run()
    return out


async def test_the_trigger_of_a_manual_run_may_not_approve_it(make_runbookd: Any, fakes: Any, tmp_path: Path) -> None:
    """``/runbookd run`` opens a manual incident; its trigger's approval is refused; two others run it,
    with the given labels rendered into the step."""
    (tmp_path / "two.yml").write_text(RULES)
    people = [{"name": "abe", "role": "admin", "slack_users": ["U0ABE"]},
              {"name": "ada", "role": "approver", "slack_users": ["U0ADA"]},
              {"name": "rita", "role": "approver", "slack_users": ["U0RITA"]}]
    rb = await make_runbookd(fakes, rule_files=[str(tmp_path / "two.yml")], access={"people": people})
    refused = await command(rb, "U0ADA", "run guarded-halt")
    assert refused["response_type"] == "ephemeral" and "admin" in refused["text"]
    assert await rb.api("/api/v1/incidents") == []
    started = await command(rb, "U0ABE", "run guarded-halt desk=fx")
    assert started["response_type"] == "in_channel"
    [inc] = await rb.api("/api/v1/incidents")
    assert inc["rule"] == "manual" and inc["labels"]["desk"] == "fx"
    value = f"{inc['id']}|0"
    assert await click(rb, fakes, "U0ABE", value) == 403
    assert await click(rb, fakes, "U0ADA", value) == 200
    assert fakes.trading.hits("/admin/orchestrate/halt") == 0
    assert await click(rb, fakes, "U0RITA", value) == 200
    assert fakes.trading.hits("/admin/orchestrate/halt") == 1
    kinds = [e["kind"] for e in (await rb.api(f"/api/v1/incidents/{inc['id']}"))["timeline"]]
    assert kinds.count("approval.approved") == 2 and "approval.refused" in kinds and "step.ok" in kinds
    assert (await command(rb, "U0ABE", "run no-such-playbook"))["response_type"] == "ephemeral"


async def test_the_bootstrap_token_counts_as_one_person(make_runbookd: Any, fakes: Any, tmp_path: Path) -> None:
    """Without ``access:`` the admin token may still name ``by``, but two names through one token are one
    person: the second approval is a 409 and the step does not run."""
    (tmp_path / "two.yml").write_text(RULES)
    rb = await make_runbookd(fakes, rule_files=[str(tmp_path / "two.yml")])
    await rb.post_alerts(payload(alert("Flatten")))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    path = f"/api/v1/incidents/{inc['id']}/approve"
    assert (await rb.api_post(path, {"step": "halt", "by": "ada"})).status == 200
    second = await rb.api_post(path, {"step": "halt", "by": "abe"})
    assert second.status == 409 and "same person" in (await second.json())["error"]
    await rb.run()
    assert fakes.trading.hits("/admin/orchestrate/halt") == 0
