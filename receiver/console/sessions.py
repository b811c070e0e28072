"""Console sign-in: a personal token (or the bootstrap admin token) exchanged for a session cookie.

The cookie carries 256 random bits; the store keeps only its SHA-256 (``console_sessions``, schema
version 13), so every replica on one database knows the session and none can show it again. Each
request resolves the session's actor afresh from the token it was opened with: revoking the token,
removing the person or changing their role takes effect on the next request. Each session holds a
CSRF synchroniser token that every form must send back (OWASP CSRF cheat sheet).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from receiver.access import tokens
from receiver.access.people import Actor, Directory
from receiver.api.auth import ApiAuth
from receiver.store import sessions as rows
from receiver.store import tokens as token_rows
from receiver.store.base import Store

COOKIE = "runbookd_session"
"""Name of the session cookie."""
TTL = 12 * 3600.0
"""Seconds a session lasts from sign-in (an on-call shift)."""


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    """A signed-in visitor: who acts, and the CSRF token their forms carry."""

    actor: Actor
    csrf: str
    cookie: str


def _token_by_id(tx: Any, token_id: str) -> token_rows.TokenRow | None:
    r = tx._x("SELECT id, name, role, created_at, created_by, revoked_at FROM api_tokens WHERE id = ?",
              (token_id,)).fetchone()
    return token_rows.TokenRow(*r) if r else None


class Sessions:
    """Opens, resolves and ends console sessions in the store."""

    def __init__(self, store: Store, auth: ApiAuth, directory: Directory, clock: Any, ttl: float = TTL) -> None:
        self.store = store
        self.auth = auth
        self.directory = directory
        self.clock = clock
        self.ttl = ttl

    async def sign_in(self, token: str, remote: str) -> Session | None:
        """Open a session for a valid ``token`` (audited as ``console.signed_in``), else ``None``."""
        token = token.strip()
        actor = await self.auth.identify(f"Bearer {token}")
        if actor is None:
            return None
        if token.startswith(tokens.PREFIX):
            digest = tokens.digest(token)
            row = await self.store.read(lambda tx: token_rows.by_hash(tx, digest))
            if row is None:
                return None
            token_id = row.id
        else:
            token_id = tokens.BOOTSTRAP
        cookie, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self.clock.now()

        def store(tx: Any) -> None:
            rows.insert(tx, _digest(cookie), rows.SessionRow(token_id, csrf, now, now + self.ttl))
            tx.audit(now, "console.signed_in", f"token:{token_id}", {"remote": remote}, actor=actor.name)

        await self.store.transaction(store)
        return Session(actor, csrf, cookie)

    async def resolve(self, cookie: str) -> Session | None:
        """The live session of ``cookie`` with its actor as configured now, or ``None``."""
        digest, now = _digest(cookie), self.clock.now()

        def read(tx: Any) -> tuple[rows.SessionRow | None, token_rows.TokenRow | None]:
            row = rows.by_hash(tx, digest, now)
            if row is None or row.token_id == tokens.BOOTSTRAP:
                return row, None
            return row, _token_by_id(tx, row.token_id)

        row, token_row = await self.store.read(read)
        if row is None:
            return None
        if row.token_id == tokens.BOOTSTRAP:
            if not self.auth.admin_token:
                return None
            actor: Actor | None = Actor(tokens.BOOTSTRAP, "admin", legacy=self.directory.legacy)
        else:
            actor = tokens.actor(token_row, self.directory)
        return Session(actor, row.csrf, cookie) if actor is not None else None

    async def sign_out(self, session: Session) -> None:
        """End ``session`` (audited as ``console.signed_out``)."""
        now = self.clock.now()

        def end(tx: Any) -> None:
            if rows.delete(tx, _digest(session.cookie)):
                tx.audit(now, "console.signed_out", "console", {}, actor=session.actor.name)

        await self.store.transaction(end)
