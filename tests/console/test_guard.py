"""Every console POST is refused without the session's CSRF token or without the role, and then
changes nothing; allowed ones go through the lifecycle as the signed-in person (docs/console.md)."""

from __future__ import annotations

from typing import Any

import pytest

from receiver.store import audit
from tests.conftest import alert, payload
from tests.console.conftest import Console, sign_in

#: Each POST of the console, the form it sends and the lowest role allowed.
POSTS = [("ack", "responder"), ("resolve", "responder"), ("approve", "approver"), ("reject", "approver"),
         ("pause", "admin"), ("resume", "admin")]
LOWER = {"responder": "vera", "approver": "rita", "admin": "abe"}


async def _waiting(con: Console) -> str:
    await con.rb.post_alerts(payload(alert("NeedsApproval")))
    await con.rb.run()
    [inc] = await con.rb.api("/api/v1/incidents")
    return str(inc["id"])


def _path(action: str, iid: str) -> str:
    return f"/automation/{action}" if action in ("pause", "resume") else f"/incidents/{iid}/{action}"


async def _state(con: Console, iid: str) -> Any:
    inc = await con.rb.api(f"/api/v1/incidents/{iid}")
    waiting = [j.key for j in await con.rb.c.store.read(lambda tx: tx.jobs_of(iid))
               if j.state == "pending" and j.payload.get("approval_wait")]
    kinds = [e["kind"] for e in inc["timeline"] if e["kind"] != "access.refused"]
    return inc["status"], inc["acknowledged_by"], waiting, kinds, await con.rb.api("/api/v1/automation")


@pytest.mark.parametrize("action", [a for a, _ in POSTS])
@pytest.mark.parametrize("csrf", ["missing", "wrong"])
async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
        make_console: Any, action: str, csrf: str) -> None:
    """An admin's session POST with no (or another) CSRF token is a 403 and nothing changes."""
    con = await make_console()
    iid = await _waiting(con)
    await sign_in(con.rb.client, con.tokens["ada"])
    if action == "resume":
        await con.rb.api_post("/api/v1/automation/pause", {"reason": "set up"})
    before = await _state(con, iid)
    form = {"step": "1", "reason": "x"} | ({"csrf": "not-the-token"} if csrf == "wrong" else {})
    r = await con.rb.client.post(_path(action, iid), data=form, allow_redirects=False)
    assert r.status == 403 and "CSRF" in await r.text()
    assert await _state(con, iid) == before


@pytest.mark.parametrize(("action", "role"), POSTS)
async def test_a_post_without_the_role_is_refused_recorded_and_changes_nothing(
        make_console: Any, action: str, role: str) -> None:
    """A person one role too low gets 403; the refusal is recorded and nothing else changes."""
    con = await make_console()
    iid = await _waiting(con)
    person = LOWER[role]
    csrf = await sign_in(con.rb.client, con.tokens[person])
    if action == "resume":
        await con.rb.api_post("/api/v1/automation/pause", {"reason": "set up"})
    before = await _state(con, iid)
    r = await con.rb.client.post(_path(action, iid), data={"csrf": csrf, "step": "1", "reason": "x"},
                                 allow_redirects=False)
    assert r.status == 403 and f"needs role {role}" in await r.text()
    assert await _state(con, iid) == before
    records = await con.rb.c.store.read(lambda tx: list(audit.export_rows(tx._x)))
    assert any(x["action"] == "access.refused" and x["actor"] == person and '"via":"console"' in x["data"]
               for x in records)


async def test_a_viewer_sees_no_action_buttons(make_console: Any) -> None:
    """The incident and automation pages show a viewer no Acknowledge, Resolve, Approve or Pause button."""
    con = await make_console()
    iid = await _waiting(con)
    await sign_in(con.rb.client, con.tokens["vera"])
    page = await (await con.rb.client.get(f"/incidents/{iid}")).text()
    assert "Waiting for approval" in page
    for button in ("Acknowledge", "Resolve</button>", "Approve halt", "Reject halt"):
        assert button not in page
    assert "Pause automation" not in await (await con.rb.client.get("/automation")).text()


async def test_an_acknowledgement_is_recorded_as_the_signed_in_person(make_console: Any) -> None:
    """Acknowledge from the console: the incident is acknowledged by rita via console, on the timeline
    and in the audit log under her name."""
    con = await make_console()
    iid = await _waiting(con)
    csrf = await sign_in(con.rb.client, con.tokens["rita"])
    r = await con.rb.client.post(f"/incidents/{iid}/ack", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/incidents/{iid}"
    inc = await con.rb.api(f"/api/v1/incidents/{iid}")
    assert inc["status"] == "acknowledged" and inc["acknowledged_by"] == "rita"
    [ev] = [e for e in inc["timeline"] if e["kind"] == "incident.acknowledged"]
    assert ev["data"]["via"] == "console"
    records = await con.rb.c.store.read(lambda tx: list(audit.export_rows(tx._x)))
    assert any(x["action"] == "incident.acknowledged" and x["actor"] == "rita" for x in records)


async def test_an_approval_from_the_console_runs_the_step(make_console: Any) -> None:
    """abe approves the waiting step from the console; the step then runs and the approval names him."""
    con = await make_console()
    iid = await _waiting(con)
    csrf = await sign_in(con.rb.client, con.tokens["abe"])
    r = await con.rb.client.post(f"/incidents/{iid}/approve", data={"csrf": csrf, "step": "1"},
                                 allow_redirects=False)
    assert r.status == 303
    await con.rb.run()
    kinds = {e["kind"]: e for e in (await con.rb.api(f"/api/v1/incidents/{iid}"))["timeline"]}
    assert kinds["approval.approved"]["data"]["by"] == "abe" and kinds["approval.approved"]["data"]["via"] == "console"
    assert "step.ok" in kinds
    page = await (await con.rb.client.get(f"/incidents/{iid}")).text()
    assert "approved by abe via console" in page


async def test_pause_from_the_console_pauses_every_replica(make_console: Any) -> None:
    """ada pauses automation with a reason: the API (the store) says paused, by ada, via console."""
    con = await make_console()
    csrf = await sign_in(con.rb.client, con.tokens["ada"])
    r = await con.rb.client.post("/automation/pause", data={"csrf": csrf, "reason": "broker maintenance"},
                                 allow_redirects=False)
    assert r.status == 303
    state = await con.rb.api("/api/v1/automation")
    assert state["paused"] and state["by"] == "ada" and state["via"] == "console"
    assert state["reason"] == "broker maintenance"


async def test_a_bearer_token_needs_no_csrf_token(make_console: Any) -> None:
    """A script POSTing with Authorization: Bearer (no cookie) is not asked for a CSRF token."""
    con = await make_console()
    iid = await _waiting(con)
    r = await con.rb.client.post(f"/incidents/{iid}/ack", headers={"Authorization": f"Bearer {con.tokens['rita']}"},
                                 allow_redirects=False)
    assert r.status == 303
    assert (await con.rb.api(f"/api/v1/incidents/{iid}"))["status"] == "acknowledged"


async def test_simulate_shows_the_plan_and_changes_nothing(make_console: Any) -> None:
    """The Rules page's form shows what runbookd simulate prints for a pasted body; no incident opens."""
    import json
    con = await make_console()
    csrf = await sign_in(con.rb.client, con.tokens["vera"])
    r = await con.rb.client.post("/rules/simulate", data={"csrf": csrf,
                                                           "body": json.dumps(payload(alert("NeedsApproval")))})
    text = await r.text()
    assert r.status == 200 and "needs-approval" in text and "approve-then-log" in text
    assert await con.rb.api("/api/v1/incidents") == []
    bad = await con.rb.client.post("/rules/simulate", data={"csrf": csrf, "body": '{"alerts": 3}'})
    assert "alerts" in await bad.text()
