"""``Console``: the route table of the operator console and the parts its handlers share.

Pages need a visitor (session cookie or ``Authorization: Bearer``); a browser without one is sent to
``/login``, a script with a bad token gets 401. Answers carry a strict Content-Security-Policy
(scripts and styles from ``/static`` only) and ``X-Frame-Options: DENY``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from receiver.access.people import Directory
from receiver.api.auth import ApiAuth
from receiver.console import actions, events, pages
from receiver.console.guard import CSRF_FIELD, Guard, Refused, Visitor
from receiver.console.render import STATIC, environment, render
from receiver.console.sessions import COOKIE, Sessions
from receiver.errors import StoreUnavailable
from receiver.settings import Settings
from receiver.store.base import Store

LOGIN_COOKIE = "runbookd_login"
"""Cookie of the sign-in form's CSRF token (double submit: there is no session yet)."""
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
Page = Callable[[Any, web.Request, Visitor], Awaitable[web.StreamResponse]]
Post = Callable[[Any, web.Request], Awaitable[web.StreamResponse]]


def _next(target: str | None) -> str:
    """A local path to return to after signing in (anything else: ``/``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


async def _events(console: Console, request: web.Request, _: Visitor) -> web.StreamResponse:
    incident = request.query.get("incident") or None
    return await events.stream(request, console.store, incident_id=incident, interval=console.sse_interval)


class Console:
    """The console's handlers, over the store, the rules in force and the people of ``access:``."""

    def __init__(self, store: Store, auth: ApiAuth, directory: Directory, clock: Any, settings: Settings, *,
                 rules: Callable[[], Any], templates: Any, wake: Callable[[], None],
                 last_reload: Callable[[], dict[str, Any]], sse_interval: float = 1.0) -> None:
        self.store, self.clock, self.settings = store, clock, settings
        self.rules, self.templates, self.wake, self.last_reload = rules, templates, wake, last_reload
        self.external_url = settings.external_url
        self.sessions = Sessions(store, auth, directory, clock)
        self.guard = Guard(auth, self.sessions, clock)
        self.env = environment()
        self.sse_interval = sse_interval

    def _secure(self, request: web.Request) -> bool:
        return request.secure or self.external_url.startswith("https://")

    def html(self, request: web.Request, template: str, visitor: Visitor | None, ctx: dict[str, Any], *,
             status: int = 200) -> web.Response:
        """Render ``template`` for ``visitor`` with the console's security headers."""
        text = render(self.env, template, visitor=visitor, path=request.path, path_qs=request.path_qs,
                      csrf_field=CSRF_FIELD, **ctx)
        return web.Response(text=text, content_type="text/html", status=status, headers=_HEADERS)

    def _page(self, fn: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                visitor = await self.guard.visitor(request)
                if visitor is None:
                    if request.headers.get("Authorization"):
                        return self.html(request, "error.html", None, {"title": "Unauthorized", "reason":
                                         "unknown, revoked or malformed token"}, status=401)
                    raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
                return await fn(self, request, visitor)
            except StoreUnavailable:
                return self.html(request, "error.html", None, {"title": "Store unavailable",
                                                               "reason": "the store does not answer"}, status=503)
        return handler

    def _post(self, fn: Post) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                return await fn(self, request)
            except Refused as e:
                visitor = await self.guard.visitor(request)
                return self.html(request, "error.html", visitor, {"title": "Refused", "reason": e.reason},
                                 status=e.status)
            except StoreUnavailable:
                return self.html(request, "error.html", None, {"title": "Store unavailable",
                                                               "reason": "the store does not answer"}, status=503)
        return handler

    async def login_form(self, request: web.Request, error: str = "", status: int = 200) -> web.Response:
        """``GET /login``: the sign-in form (a personal token)."""
        token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = self.html(request, "login.html", None, {"error": error, "login_csrf": token,
                                                           "next": _next(request.query.get("next"))}, status=status)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=self._secure(request),
                            path="/login", max_age=3600)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        """``POST /login``: exchange a token for a session cookie (HttpOnly, SameSite=Strict, Secure on https)."""
        form = await request.post()
        expected = request.cookies.get(LOGIN_COOKIE, "")
        given = str(form.get(CSRF_FIELD, ""))
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return await self.login_form(request, "The form expired: try again.", 403)
        try:
            session = await self.sessions.sign_in(str(form.get("token", "")), request.remote or "")
        except StoreUnavailable:
            return await self.login_form(request, "The store does not answer: try again later.", 503)
        if session is None:
            return await self.login_form(request, "Unknown, revoked or malformed token.", 401)
        response = web.Response(status=303, headers={"Location": _next(str(form.get("next", "")))})
        response.set_cookie(COOKIE, session.cookie, httponly=True, samesite="Strict", secure=self._secure(request),
                            path="/", max_age=int(self.sessions.ttl))
        response.del_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """``POST /logout``: end the session (the form carries the CSRF token)."""
        visitor, _ = await self.guard.allow(request, "view")
        if visitor.session is not None:
            await self.sessions.sign_out(visitor.session)
        response = web.Response(status=303, headers={"Location": "/login"})
        response.del_cookie(COOKIE, path="/")
        return response

    def routes(self) -> list[web.AbstractRouteDef]:
        """The route table of the console (``/`` and below; the API and webhooks keep their paths)."""
        return [
            web.get("/", self._page(pages.incidents)),
            web.get("/incidents/{id}", self._page(pages.incident)),
            web.get("/incidents/{id}/postmortem", self._page(pages.postmortem)),
            web.get("/incidents/{id}/postmortem.md", self._page(pages.postmortem_md)),
            *[web.post(f"/incidents/{{id}}/{a}", self._post(actions.incident_action))
              for a in ("ack", "resolve", "approve", "reject")],
            web.get("/automation", self._page(pages.automation)),
            web.post("/automation/pause", self._post(actions.automation_action)),
            web.post("/automation/resume", self._post(actions.automation_action)),
            web.get("/rules", self._page(pages.rules)),
            web.post("/rules/simulate", self._post(actions.simulate)),
            web.get("/audit", self._page(pages.audit)),
            web.get("/events", self._page(_events)),
            web.get("/login", self.login_form),
            web.post("/login", self.login),
            web.post("/logout", self._post(lambda _, r: self.logout(r))),
            web.static("/static", STATIC, append_version=False),
        ]
