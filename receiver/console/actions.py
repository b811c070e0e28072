"""The console's POST handlers: acknowledge, resolve, approve, reject, pause, resume, simulate.

Each runs the same lifecycle function as the admin API (``receiver.incidents.lifecycle``,
``receiver.playbooks.approvals.answer``, ``receiver.api.admin.set_pause``) as the signed-in person,
with ``via="console"``, so it lands on the timeline and in the audit log under their name. Success
answers ``303 See Other`` back to the page (post/redirect/get); a refusal is an error page with the
status of the API (403, 404, 409) and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from receiver.api.admin import set_pause
from receiver.api.auth import acting
from receiver.console import pages
from receiver.console.guard import Refused
from receiver.errors import PayloadError
from receiver.incidents.lifecycle import acknowledge, resolve_manually
from receiver.ingest.payload import parse_payload
from receiver.playbooks import approvals

if TYPE_CHECKING:
    from receiver.console.routes import Console

_LIFECYCLE: dict[str, Any] = {"ack": acknowledge, "resolve": resolve_manually}


async def incident_action(console: Console, request: web.Request) -> web.StreamResponse:
    """``POST /incidents/{id}/ack|resolve|approve|reject`` (approve/reject: form field ``step``)."""
    iid, action = request.match_info["id"], request.path.rsplit("/", 1)[1]
    visitor, form = await console.guard.allow(request, action, iid)
    actor, now, rules = visitor.actor, console.clock.now(), console.rules()
    if action in _LIFECYCLE:
        fn = _LIFECYCLE[action]
        change = await console.store.transaction(acting(actor.name, lambda tx: fn(
            tx, iid, by=actor.name, via="console", now=now, rules=rules)))
    else:
        step = form.get("step", "")
        if not step:
            raise Refused(400, "step (name or index) is required")
        ids = (actor.name, *actor.ids)
        change = await console.store.transaction(acting(actor.name, lambda tx: approvals.answer(
            tx, iid, step=step, decision="approve" if action == "approve" else "reject", by=actor.name,
            via="console", now=now, user_ids=ids)))
    if not change.ok:
        raise Refused(change.status, change.reason)
    console.wake()
    raise web.HTTPSeeOther(f"/incidents/{iid}")


async def automation_action(console: Console, request: web.Request) -> web.StreamResponse:
    """``POST /automation/pause`` (form field ``reason``) and ``/automation/resume``."""
    action = request.path.rsplit("/", 1)[1]
    visitor, form = await console.guard.allow(request, action)
    reason = form.get("reason", "").strip()[:500]
    await set_pause(console.store, action == "pause", by=visitor.actor.name, reason=reason if action == "pause"
                    else "", via="console", now=console.clock.now(), actor=visitor.actor.name)
    raise web.HTTPSeeOther("/automation")


async def simulate(console: Console, request: web.Request) -> web.StreamResponse:
    """``POST /rules/simulate`` (form field ``body``): what ``runbookd simulate`` would do; changes nothing."""
    from receiver.simulate import Deployment, alerts_from_payload, default_until, plan, render_text

    visitor, form = await console.guard.allow(request, "view")
    body = form.get("body", "")
    result: dict[str, Any] = {"body": body}
    try:
        payload = parse_payload(body.encode("utf-8"))
    except PayloadError as e:
        result["error"] = str(e)
        return await pages.rules(console, request, visitor, result)
    ruleset = console.rules()
    alerts, start = alerts_from_payload(payload)
    until = max(start, default_until(ruleset, alerts))
    result["text"] = render_text(plan(ruleset, alerts, until=until, start=start,
                                      deployment=Deployment.from_settings(console.settings)))
    return await pages.rules(console, request, visitor, result)
