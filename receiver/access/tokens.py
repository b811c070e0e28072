"""Personal API tokens: ``rbk_<id>_<secret>``, shown once at creation; the store keeps only the
SHA-256 (hex) of the whole token, so every replica can check it and none can show it again.

SHA-256 without salt or stretching is enough here: a token carries 256 random bits, nothing a
dictionary could guess (RFC 6750 bearer tokens; compare GitHub's personal access tokens).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from receiver.access.people import Actor, Directory
from receiver.access.roles import Role
from receiver.store import tokens as rows

PREFIX = "rbk_"
BOOTSTRAP = "admin-token"
"""The actor name of ``RUNBOOKD_ADMIN_TOKEN`` (``admin.token``), the bootstrap admin."""


def digest(token: str) -> str:
    """The stored form of a token: SHA-256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is the only copy, printed once."""

    id: str
    secret: str


def create(tx: Any, name: str, role: Role | None, *, by: str, now: float) -> NewToken:
    """Create a token for ``name`` (``role`` ``None``: that person's role in force) in ``tx``."""
    tid = secrets.token_hex(4)
    secret = f"{PREFIX}{tid}_{secrets.token_urlsafe(32)}"
    rows.insert(tx, rows.TokenRow(tid, name, role, now, by, None), digest(secret))
    return NewToken(tid, secret)


def actor(row: rows.TokenRow | None, directory: Directory) -> Actor | None:
    """The actor a stored token acts as, or ``None`` (unknown, revoked, or its person was removed)."""
    if row is None or row.revoked_at is not None:
        return None
    if row.role is not None:
        return Actor(row.name, row.role, (f"token:{row.id}",))  # type: ignore[arg-type]
    person = directory.person(row.name)
    return directory.actor_of(person, f"token:{row.id}") if person else None
