"""The console's GET pages: incidents, one incident, its post-mortem, automation, rules, audit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from receiver.console import views
from receiver.console.guard import Visitor
from receiver.escalation.postmortem import postmortem_filename, render_postmortem
from receiver.escalation.targets import response_targets

if TYPE_CHECKING:
    from receiver.console.routes import Console


def _int(request: web.Request, name: str) -> int:
    try:
        return max(0, int(request.query.get(name, "0")))
    except ValueError:
        return 0


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name) or None
    return value if value in allowed else None


async def incidents(console: Console, request: web.Request, visitor: Visitor) -> web.Response:
    """``GET /``: open and recent incidents, newest first; ``?fragment=1`` answers the table alone."""
    f = views.Filters(status=_choice(request, "status", views.STATUSES),
                      severity=_choice(request, "severity", views.SEVERITIES),
                      alertname=(request.query.get("alertname") or "").strip()[:200] or None,
                      page=_int(request, "page"))
    now = console.clock.now()
    ctx = await console.store.read(lambda tx: views.incidents(tx, f, now))
    if request.query.get("fragment"):
        return console.html(request, "_incidents.html", visitor, ctx)
    return console.html(request, "incidents.html", visitor, ctx)


async def incident(console: Console, request: web.Request, visitor: Visitor) -> web.Response:
    """``GET /incidents/{id}``: alerts, timeline, playbook, approvals, pages, actions."""
    iid = request.match_info["id"]
    ap, tp = request.query.get("after", "")[:200], _int(request, "timeline_page")
    ctx = await console.store.read(lambda tx: views.incident(tx, iid, ap, tp))
    if ctx is None:
        return console.html(request, "error.html", visitor, {"title": "Not found",
                                                               "reason": f"no incident {iid!r}"}, status=404)
    ctx["now"] = console.clock.now()
    return console.html(request, "incident.html", visitor, ctx)


async def _postmortem_text(console: Console, iid: str) -> tuple[Any, str] | None:
    inc, timeline = await console.store.read(lambda tx: (tx.get_incident(iid), tx.timeline(iid)))
    if inc is None:
        return None
    rules = console.rules()
    target = response_targets(rules).get(inc.severity)
    return inc, render_postmortem(inc, timeline, console.templates, console.clock.now(),
                                  external_url=console.external_url, respond_within=target)


async def postmortem(console: Console, request: web.Request, visitor: Visitor) -> web.Response:
    """``GET /incidents/{id}/postmortem``: the post-mortem draft as HTML, with a Markdown download."""
    iid = request.match_info["id"]
    got = await _postmortem_text(console, iid)
    if got is None:
        return console.html(request, "error.html", visitor, {"title": "Not found",
                                                               "reason": f"no incident {iid!r}"}, status=404)
    inc, text = got
    return console.html(request, "postmortem.html", visitor, {"incident": inc, "markdown_text": text})


async def postmortem_md(console: Console, request: web.Request, visitor: Visitor) -> web.Response:
    """``GET /incidents/{id}/postmortem.md``: the Markdown draft as a download."""
    got = await _postmortem_text(console, request.match_info["id"])
    if got is None:
        raise web.HTTPNotFound(text="no such incident\n")
    inc, text = got
    return web.Response(text=text, content_type="text/markdown", headers={
        "Content-Disposition": f'attachment; filename="{postmortem_filename(inc)}"'})


async def automation(console: Console, request: web.Request, visitor: Visitor) -> web.Response:
    """``GET /automation``: pause state, the destructive budget, shadow rules."""
    now, rules = console.clock.now(), console.rules()
    ctx = await console.store.read(lambda tx: views.automation(tx, console.settings.automation.destructive_budget,
                                                               rules, now))
    return console.html(request, "automation.html", visitor, ctx)


async def rules(console: Console, request: web.Request, visitor: Visitor,
                simulation: dict[str, Any] | None = None) -> web.Response:
    """``GET /rules``: rule files and version, the last reload, and the simulate form."""
    return console.html(request, "rules.html", visitor, {
        "ruleset": console.rules(), "reload": console.last_reload(), "simulation": simulation or {}})


async def audit(console: Console, request: web.Request, visitor: Visitor) -> web.Response:
    """``GET /audit``: the audit log, newest first, and the chain's verification status."""
    page = _int(request, "page")
    ctx = await console.store.read(lambda tx: views.audit(tx, page))
    return console.html(request, "audit.html", visitor, ctx)
