"""Who is calling the admin API and ``/-/reload``, and whether their role allows it (docs/access.md).

``Authorization: Bearer <token>`` with the bootstrap ``admin.token`` acts as ``admin-token`` (role
admin); with a personal token (``rbk_…``, ``runbookd token create``) as its person and role. The
actor always comes from the token, never from a request body. ``GET /api/v1/*`` needs ``viewer``;
each mutation the role of its action (``receiver.access.roles``). A refusal is 403 and is recorded:
on the incident's timeline when the request names an existing incident, else in the audit log
alone; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from receiver.access import tokens
from receiver.access.people import Actor, Directory
from receiver.access.roles import allows, needed_role
from receiver.auth import bearer_ok
from receiver.edge import error_response
from receiver.model import TimelineEvent
from receiver.store import tokens as token_rows
from receiver.store.base import Store

T = TypeVar("T")
log = structlog.get_logger("runbookd.access")
ACTOR = web.RequestKey("actor", Actor)
UNAUTHENTICATED = "unauthenticated"
"""The actor of an allowed unauthenticated ``/-/reload``."""


def acting(actor: str, fn: Callable[[Any], T]) -> Callable[[Any], T]:
    """``fn`` run as ``actor``: every audit record of its transaction names them."""
    def run(tx: Any) -> T:
        tx.actor = actor
        return fn(tx)
    return run


def record_refusal(tx: Any, actor: str, action: str, reason: str, now: float, *, via: str,
                   incident_id: str | None = None, **data: Any) -> None:
    """Record a refused request: an ``access.refused`` timeline event on ``incident_id`` when it
    exists, else an audit record alone. Changes nothing else."""
    body = {"actor": actor, "action": action, "reason": reason, "via": via, **data}
    if incident_id and tx.get_incident(incident_id) is not None:
        tx.add_event(incident_id, TimelineEvent(now, "access.refused", f"{actor} may not {action} via {via}: {reason}",
                                                body))
    else:
        tx.audit(now, "access.refused", incident_id or action, body, actor=actor)


def api_action(method: str, path: str) -> str:
    """The action (``receiver.access.roles``) of an admin API request: ``view`` for reads."""
    if method in ("GET", "HEAD"):
        return "view"
    if path.startswith("/api/v1/maintenance"):
        return "maintenance"
    if path.startswith("/api/v1/oncall"):
        return "oncall"
    return path.rstrip("/").rsplit("/", 1)[-1]


class ApiAuth:
    """Authenticates bearer tokens and checks roles; ``admin_token`` ``None``: only personal tokens."""

    def __init__(self, store: Store, admin_token: str | None, directory: Directory, clock: Any, *,
                 reload_open: bool = True) -> None:
        self.store = store
        self.admin_token = admin_token
        self.directory = directory
        self.clock = clock
        self.reload_open = reload_open

    async def identify(self, header: str | None) -> Actor | None:
        """The actor of an ``Authorization`` header, or ``None`` (missing, unknown or revoked token)."""
        if not header or not header.startswith("Bearer "):
            return None
        if self.admin_token and bearer_ok(header, self.admin_token):
            return Actor(tokens.BOOTSTRAP, "admin", legacy=self.directory.legacy)
        given = header[7:].strip()
        # Personal tokens are ASCII; anything else (``Bearer \xff`` arrives surrogate-escaped) is no token.
        if not given.isascii() or not given.startswith(tokens.PREFIX):
            return None
        digest = tokens.digest(given)
        row = await self.store.read(lambda tx: token_rows.by_hash(tx, digest))
        return tokens.actor(row, self.directory)

    async def authorize(self, request: web.Request, action: str, incident_id: str | None = None
                        ) -> Actor | web.Response:
        """The actor allowed to do ``action``, or the 401/403 answer (a 403 is recorded)."""
        actor = await self.identify(request.headers.get("Authorization"))
        if actor is None:
            return error_response(401, "needs Authorization: Bearer <admin token or personal token>", None,
                                  **{"WWW-Authenticate": 'Bearer realm="runbookd-admin"'})
        if not allows(actor.role, action):
            reason = f"{action} needs role {needed_role(action)}, {actor.name} is {actor.role}"
            now = self.clock.now()
            await self.store.transaction(
                lambda tx: record_refusal(tx, actor.name, action, reason, now, via="api", incident_id=incident_id))
            log.warning("access refused", actor=actor.name, action=action, via="api")
            return error_response(403, reason)
        return actor

    async def reload_actor(self, request: web.Request) -> Actor | web.Response:
        """Who reloads: a token's actor (admin role), or ``unauthenticated`` where ``reload_open`` allows it."""
        if self.reload_open and not request.headers.get("Authorization"):
            return Actor(UNAUTHENTICATED, "admin")
        return await self.authorize(request, "reload")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authorize every ``/api/`` request and attach its actor (``request[ACTOR]``)."""
        if request.path.startswith("/api/"):
            action = api_action(request.method, request.path)
            if action not in ("view", "ack", "resolve", "approve", "reject", "pause", "resume", "maintenance",
                              "oncall"):
                action = "view" if request.method in ("GET", "HEAD") else "pause"  # unknown: admin-only
            got = await self.authorize(request, action, request.match_info.get("id"))
            if isinstance(got, web.Response):
                return got
            request[ACTOR] = got
        return await handler(request)
