"""Who is asking the console, and whether a form may do what it asks (roles and CSRF).

A page is read by a signed-in person (session cookie) or by a script with ``Authorization:
Bearer <token>`` (no cookie, so no CSRF token needed). A POST made with the cookie must carry the
session's CSRF token in the form field ``csrf``; a missing or wrong one is a 403 and nothing
changes. A role too low for the action is a 403 recorded as ``access.refused`` (via ``console``),
on the incident's timeline when the form names one, as the admin API does.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from receiver.access.people import Actor
from receiver.access.roles import allows, needed_role
from receiver.api.auth import ApiAuth, record_refusal
from receiver.console.sessions import COOKIE, Session, Sessions

log = structlog.get_logger("runbookd.console")
CSRF_FIELD = "csrf"
"""The form field that carries the CSRF token."""


@dataclass(frozen=True)
class Visitor:
    """Who is asking: the actor, and the session (``None`` for a bearer token)."""

    actor: Actor
    session: Session | None

    @property
    def csrf(self) -> str:
        """The CSRF token forms must carry (``""`` for a bearer token, which needs none)."""
        return self.session.csrf if self.session else ""

    def may(self, action: str) -> bool:
        """Whether the visitor's role allows ``action`` (``receiver.access.roles``)."""
        return allows(self.actor.role, action)


class Refused(Exception):
    """A console request is refused: ``status`` (401/403) and the ``reason`` shown."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Guard:
    """Resolves visitors and checks console POSTs."""

    def __init__(self, auth: ApiAuth, sessions: Sessions, clock: Any) -> None:
        self.auth = auth
        self.sessions = sessions
        self.clock = clock

    async def visitor(self, request: web.Request) -> Visitor | None:
        """The visitor of ``request``: bearer token first, then the session cookie; ``None`` if neither."""
        header = request.headers.get("Authorization")
        if header:
            if not header.isascii():  # undecodable bytes (surrogate-escaped): no token of ours, a 401
                return None
            actor = await self.auth.identify(header)
            return Visitor(actor, None) if actor else None
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        session = await self.sessions.resolve(cookie)
        return Visitor(session.actor, session) if session else None

    async def allow(self, request: web.Request, action: str, incident_id: str | None = None
                    ) -> tuple[Visitor, dict[str, str]]:
        """The visitor allowed to POST ``action``, and the form; raises ``Refused`` otherwise."""
        visitor = await self.visitor(request)
        if visitor is None:
            raise Refused(401, "sign in first")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if visitor.session is not None and not hmac.compare_digest(
                form.get(CSRF_FIELD, "").encode(), visitor.session.csrf.encode()):
            log.warning("console form without a valid CSRF token", actor=visitor.actor.name, path=request.path)
            raise Refused(403, "the form's CSRF token is missing or out of date: reload the page and try again")
        if not visitor.may(action):
            name, now = visitor.actor.name, self.clock.now()
            reason = f"{action} needs role {needed_role(action)}, {name} is {visitor.actor.role}"
            await self.auth.store.transaction(
                lambda tx: record_refusal(tx, name, action, reason, now, via="console", incident_id=incident_id))
            log.warning("access refused", actor=name, action=action, via="console")
            raise Refused(403, reason)
        return visitor, form
