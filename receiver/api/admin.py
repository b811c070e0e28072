"""Admin API (``Authorization: Bearer <admin token or personal token>``): incidents and their timelines.

``GET /api/v1/incidents`` — newest first, resolved included; ``?status=firing|acknowledged|resolved``,
``?alertname=``, ``?limit=`` (default 100, at most 1000). ``GET /api/v1/incidents/{id}`` — the same
fields plus ``timeline`` (oldest first). ``POST /api/v1/incidents/{id}/ack`` and ``/resolve`` answer
the incident; 404 unknown, 409 acknowledging a resolved incident; both idempotent. ``POST
/api/v1/incidents/{id}/approve`` and ``/reject`` with ``{"step": <name or index>}`` answer a waiting
approval (409 once answered, 403 for a non-approver). ``GET /api/v1/automation``, ``POST
/api/v1/automation/pause`` and ``/resume`` (optional ``{"reason"}``) answer ``{"paused": bool, "by",
"at", "reason"}``.
``GET /api/v1/reports/response`` — MTTA/MTTR per severity (receiver.api.reports). The actor is the
token's (``receiver.api.auth``): a body's ``"by"`` other than the token's person is a 400 — except
with the bootstrap admin token while no ``access:`` is configured, where it is recorded as before
(the audit log names ``admin-token``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from receiver.access.tokens import BOOTSTRAP
from receiver.api import reports
from receiver.api.auth import ACTOR, acting
from receiver.edge import error_response, load_json
from receiver.errors import StoreUnavailable
from receiver.escalation.postmortem import render_postmortem
from receiver.escalation.targets import response_targets
from receiver.incidents.lifecycle import acknowledge, resolve_manually
from receiver.model import Change
from receiver.playbooks import approvals
from receiver.playbooks.gates import paused, set_paused
from receiver.store.base import Store

_STATUSES = ("firing", "acknowledged", "resolved")


def automation_json(state: dict[str, Any] | None) -> dict[str, Any]:
    """The automation state as the API answers it."""
    return {"paused": state is not None, **(state or {})}


async def set_pause(store: Store, pause: bool, *, by: str, reason: str, via: str,
                    now: float, actor: str | None = None) -> dict[str, Any] | None:
    """Pause or resume automation for every replica; returns the new state (``None`` when running).

    The change and its audit record (``automation.paused`` / ``automation.resumed``, as ``actor``,
    default ``by``) commit together.
    """
    state = {"by": by, "at": now, "reason": reason, "via": via} if pause else None

    def change(tx: Any) -> None:
        set_paused(tx, state)
        tx.audit(now, "automation.paused" if pause else "automation.resumed", "automation",
                 {"by": by, "reason": reason, "via": via}, actor=actor or by)

    await store.transaction(change)
    structlog.get_logger("runbookd.automation").warning("automation paused" if pause else "automation resumed",
                                                        by=by, via=via, reason=reason)
    return state


class AdminApi:
    """Handlers of ``/api/v1`` (authentication is ``receiver.api.auth.ApiAuth``'s middleware)."""

    def __init__(self, store: Store, *, clock: Any = None, rules: Callable[[], Any] | None = None,
                 wake: Callable[[], None] | None = None, templates: Any = None, external_url: str = "") -> None:
        self.templates = templates
        self.external_url = external_url
        self.store = store
        self.clock = clock
        self.rules = rules or (lambda: None)
        self.wake = wake or (lambda: None)

    @web.middleware
    async def auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer 503 when the store is unavailable under an ``/api/`` request (auth included)."""
        try:
            return await handler(request)
        except StoreUnavailable:
            return error_response(503, "store unavailable")

    def routes(self) -> list[web.RouteDef]:
        """The route table of the admin API."""
        return [
            web.get("/api/v1/incidents", self.list_incidents),
            web.get("/api/v1/incidents/{id}", self.get_incident),
            web.get("/api/v1/incidents/{id}/postmortem", self.postmortem),
            web.post("/api/v1/incidents/{id}/ack", self.ack),
            web.post("/api/v1/incidents/{id}/resolve", self.resolve),
            web.post("/api/v1/incidents/{id}/approve", self.approve),
            web.post("/api/v1/incidents/{id}/reject", self.reject),
            web.get("/api/v1/automation", self.automation),
            web.post("/api/v1/automation/pause", self.pause),
            web.post("/api/v1/automation/resume", self.resume),
            web.get("/api/v1/reports/response", self.response_report),
        ]

    async def response_report(self, request: web.Request) -> web.Response:
        """``GET /api/v1/reports/response?since=…&until=…``: MTTA/MTTR per severity (receiver.api.reports)."""
        now = self.clock.now()
        bounds: dict[str, float] = {}
        for name, default in (("since", now - reports.DEFAULT_SINCE), ("until", now)):
            text = request.query.get(name)
            try:
                bounds[name] = reports.parse_time(text, now) if text else default
            except ValueError as e:
                return error_response(400, f"{name}: {e}", name)
        since, until = bounds["since"], bounds["until"]
        rows = await self.store.read(lambda tx: tx.response_report(since, until))
        return web.json_response(reports.response_json(rows, self.rules(), since, until))

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = load_json(raw)
        except ValueError:
            return error_response(400, "body must be JSON (or empty)")
        if not isinstance(body, dict):
            return error_response(400, "body must be a JSON object")
        return body

    async def _answer(self, request: web.Request, decision: str) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        step = body.get("step")
        if not isinstance(step, str | int) or isinstance(step, bool):
            return error_response(400, "step (name or index) is required", "step")
        by = self._who(request, body)
        if isinstance(by, web.Response):
            return by
        actor = request[ACTOR]
        iid, now = request.match_info["id"], self.clock.now()
        ids = (actor.name, *actor.ids)  # the bootstrap token counts as one person towards ``required``
        change = await self.store.transaction(acting(actor.name, lambda tx: approvals.answer(
            tx, iid, step=step, decision=decision, by=by, via="api", now=now, user_ids=ids)))
        if not change.ok:
            return error_response(change.status, change.reason, "step" if change.status != 404 else "id")
        self.wake()
        assert change.incident is not None
        return web.json_response(change.incident.to_json())

    async def approve(self, request: web.Request) -> web.Response:
        """``POST /api/v1/incidents/{id}/approve`` ``{"step": name|index, "by"}``: approve a waiting step."""
        return await self._answer(request, "approve")

    async def reject(self, request: web.Request) -> web.Response:
        """``POST /api/v1/incidents/{id}/reject`` ``{"step": name|index, "by"}``: reject a waiting step."""
        return await self._answer(request, "reject")

    async def automation(self, _: web.Request) -> web.Response:
        """``GET /api/v1/automation``: ``{"paused": bool, "by", "at", "reason"}``."""
        state = await self.store.read(paused)
        return web.json_response(automation_json(state))

    async def pause(self, request: web.Request) -> web.Response:
        """``POST /api/v1/automation/pause``: every replica stops executing steps (they are skipped and paged)."""
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        by = self._who(request, body)
        if isinstance(by, web.Response):
            return by
        state = await set_pause(self.store, True, by=by, reason=str(body.get("reason") or ""),
                                via="api", now=self.clock.now(), actor=request[ACTOR].name)
        return web.json_response(automation_json(state))

    async def resume(self, request: web.Request) -> web.Response:
        """``POST /api/v1/automation/resume``: automation runs again for new steps."""
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        by = self._who(request, body)
        if isinstance(by, web.Response):
            return by
        state = await set_pause(self.store, False, by=by, reason="", via="api", now=self.clock.now(),
                                actor=request[ACTOR].name)
        return web.json_response(automation_json(state))

    async def postmortem(self, request: web.Request) -> web.Response:
        """``GET /api/v1/incidents/{id}/postmortem``: the Markdown post-mortem draft, from the timeline."""
        iid = request.match_info["id"]
        inc, timeline = await self.store.read(lambda tx: (tx.get_incident(iid), tx.timeline(iid)))
        if inc is None:
            return error_response(404, f"no incident {iid!r}", "id")
        target = response_targets(self.rules()).get(inc.severity) if self.rules() is not None else None
        text = render_postmortem(inc, timeline, self.templates, self.clock.now(), external_url=self.external_url,
                                 respond_within=target)
        return web.Response(text=text, content_type="text/markdown")

    def _who(self, request: web.Request, body: dict[str, Any]) -> str | web.Response:
        """The name recorded as ``by``: the token's actor. Only the bootstrap token without ``access:``
        may still name someone in the body (default ``"api"``), as before people were configured."""
        actor = request[ACTOR]
        by = body.get("by")
        if actor.legacy and actor.name == BOOTSTRAP:
            if by is None:
                return "api"
            if not isinstance(by, str) or not by.strip() or len(by) > 200:
                return error_response(400, "by must be a non-empty string", "by")
            return by.strip()
        if by is not None and by != actor.name:
            return error_response(400, f"by is taken from the token ({actor.name}); leave it out", "by")
        return actor.name

    async def _change(self, request: web.Request, fn: Callable[..., Change]) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        by = self._who(request, body)
        if isinstance(by, web.Response):
            return by
        iid = request.match_info["id"]
        now = self.clock.now()
        rules = self.rules()
        change = await self.store.transaction(acting(request[ACTOR].name,
                                                     lambda tx: fn(tx, iid, by=by, via="api", now=now, rules=rules)))
        if not change.ok:
            return error_response(change.status, change.reason, "id" if change.status == 404 else None)
        self.wake()
        assert change.incident is not None
        return web.json_response(change.incident.to_json() | ({"note": change.reason} if change.reason else {}))

    async def ack(self, request: web.Request) -> web.Response:
        """``POST /api/v1/incidents/{id}/ack``: acknowledge; paging stops, pages are updated."""
        return await self._change(request, acknowledge)

    async def resolve(self, request: web.Request) -> web.Response:
        """``POST /api/v1/incidents/{id}/resolve``: resolve now; protective actions stay done."""
        return await self._change(request, resolve_manually)

    async def list_incidents(self, request: web.Request) -> web.Response:
        """``GET /api/v1/incidents``: JSON list, newest first."""
        status = request.query.get("status") or None
        if status is not None and status not in _STATUSES:
            return error_response(400, f"status must be one of {', '.join(_STATUSES)}", "status")
        try:
            limit = max(1, min(1000, int(request.query.get("limit", "100"))))
        except ValueError:
            return error_response(400, "limit must be an integer", "limit")
        alertname = request.query.get("alertname") or None
        incidents = await self.store.read(
            lambda tx: tx.list_incidents(status=status, alertname=alertname, limit=limit))
        return web.json_response([i.to_json() for i in incidents])

    async def get_incident(self, request: web.Request) -> web.Response:
        """``GET /api/v1/incidents/{id}``: one incident with its timeline; 404 when unknown."""
        iid = request.match_info["id"]
        inc, timeline = await self.store.read(lambda tx: (tx.get_incident(iid), tx.timeline(iid)))
        if inc is None:
            return error_response(404, f"no incident {iid!r}", "id")
        body = inc.to_json()
        body["timeline"] = [e.to_json() for e in timeline]
        return web.json_response(body)
