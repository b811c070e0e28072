"""Rows of ``api_tokens``: personal API tokens, of which only the SHA-256 of the secret is stored.

Functions take a ``SqlTx``; creating and revoking also queue their audit record (``token.created``,
``token.revoked``) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenRow:
    """One token: ``id`` (public), ``name`` (a person of ``access:`` or a service name), ``role``
    (``None``: the person's role in force), times in epoch seconds, ``revoked_at`` ``None`` while valid."""

    id: str
    name: str
    role: str | None
    created_at: float
    created_by: str
    revoked_at: float | None


_COLS = "id, name, role, created_at, created_by, revoked_at"


def insert(tx: Any, row: TokenRow, digest: str) -> None:
    """Store a new token by its hash and queue ``token.created``."""
    tx._x(f"INSERT INTO api_tokens ({_COLS}, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
          (row.id, row.name, row.role, row.created_at, row.created_by, row.revoked_at, digest))
    tx.audit(row.created_at, "token.created", f"token:{row.id}", {"name": row.name, "role": row.role},
             actor=row.created_by)


def by_hash(tx: Any, digest: str) -> TokenRow | None:
    """The token whose secret hashes to ``digest`` (revoked ones included), or ``None``."""
    r = tx._x(f"SELECT {_COLS} FROM api_tokens WHERE hash = ?", (digest,)).fetchone()
    return TokenRow(*r) if r else None


def listing(tx: Any) -> list[TokenRow]:
    """Every token, oldest first."""
    return [TokenRow(*r) for r in tx._x(f"SELECT {_COLS} FROM api_tokens ORDER BY created_at, id").fetchall()]


def revoke(tx: Any, token_id: str, now: float, by: str) -> bool:
    """Revoke token ``token_id`` and queue ``token.revoked``; returns whether a valid token had that id."""
    n = tx._x("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, token_id)).rowcount
    if n:
        tx.audit(now, "token.revoked", f"token:{token_id}", {}, actor=by)
    return bool(n)
