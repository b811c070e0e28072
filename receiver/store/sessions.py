"""Rows of ``console_sessions``: console sign-ins, stored by the SHA-256 of the session cookie.

Functions take a ``SqlTx`` (schema version 13). A session names the token it was opened with
(``token_id``; ``admin-token`` for the bootstrap token) and holds its CSRF synchroniser token.
Times are epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SessionRow:
    """One console session: the token it acts through, its CSRF token, and when it ends."""

    token_id: str
    csrf: str
    created_at: float
    expires_at: float


def insert(tx: Any, digest: str, row: SessionRow) -> None:
    """Store a new session under ``digest`` (the cookie's SHA-256, hex); drops expired sessions."""
    tx._x("DELETE FROM console_sessions WHERE expires_at < ?", (row.created_at,))
    tx._x("INSERT INTO console_sessions (hash, token_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
          (digest, row.token_id, row.csrf, row.created_at, row.expires_at))


def by_hash(tx: Any, digest: str, now: float) -> SessionRow | None:
    """The session whose cookie hashes to ``digest`` and that has not expired at ``now``, or ``None``."""
    r = tx._x("SELECT token_id, csrf, created_at, expires_at FROM console_sessions WHERE hash = ? AND expires_at >= ?",
              (digest, now)).fetchone()
    return SessionRow(*r) if r else None


def delete(tx: Any, digest: str) -> bool:
    """End the session ``digest`` (sign-out); returns whether there was one."""
    return bool(tx._x("DELETE FROM console_sessions WHERE hash = ?", (digest,)).rowcount)
