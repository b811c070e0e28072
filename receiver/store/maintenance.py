"""Rows of ``maintenance_windows`` (schema v12): planned work during which covered incidents page no one.

Functions take a ``SqlTx``; creating and ending a window also queue its audit record
(``maintenance.created``, ``maintenance.ended``) in the same transaction. Times are epoch seconds
(UTC); a window is active at ``t`` when ``starts_at <= t < ends_at``. Ending a window early moves its
``ends_at`` to that moment (the row is kept: it is history).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WindowRow:
    """One maintenance window: ``matchers`` (Alertmanager matcher strings, all must hold), ``starts_at`` /
    ``ends_at`` (epoch seconds), ``reason``, ``created_by`` (the actor), ``ended_by`` (who ended it early)."""

    id: str
    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    reason: str
    created_by: str
    created_at: float
    ended_by: str | None = None


_COLS = "id, matchers, starts_at, ends_at, reason, created_by, created_at, ended_by"


def _row(r: Any) -> WindowRow:
    return WindowRow(r[0], tuple(json.loads(r[1])), float(r[2]), float(r[3]), r[4], r[5], float(r[6]), r[7])


def insert(tx: Any, w: WindowRow) -> None:
    """Store a new window and queue ``maintenance.created``."""
    tx._x(f"INSERT INTO maintenance_windows ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          (w.id, json.dumps(list(w.matchers)), w.starts_at, w.ends_at, w.reason, w.created_by, w.created_at,
           w.ended_by))
    tx.audit(w.created_at, "maintenance.created", f"maintenance:{w.id}",
             {"matchers": list(w.matchers), "starts_at": w.starts_at, "ends_at": w.ends_at, "reason": w.reason},
             actor=w.created_by)


def get(tx: Any, window_id: str) -> WindowRow | None:
    """The window ``window_id``, or ``None``."""
    r = tx._x(f"SELECT {_COLS} FROM maintenance_windows WHERE id = ?", (window_id,)).fetchone()
    return _row(r) if r else None


def current(tx: Any, now: float, *, lock: bool = False) -> list[WindowRow]:
    """Windows not over at ``now`` (active or still to come), soonest start first. ``lock``: hold their rows
    until the transaction ends (PostgreSQL ``FOR UPDATE``), so a window ended meanwhile is seen ended."""
    rows = tx._x(f"SELECT {_COLS} FROM maintenance_windows WHERE ends_at > ? ORDER BY starts_at, id"
                 + (tx._row_lock if lock else ""), (now,)).fetchall()
    return [_row(r) for r in rows]


def listing(tx: Any, limit: int = 100) -> list[WindowRow]:
    """Every window, newest start first (at most ``limit``)."""
    rows = tx._x(f"SELECT {_COLS} FROM maintenance_windows ORDER BY starts_at DESC, id LIMIT ?",
                 (limit,)).fetchall()
    return [_row(r) for r in rows]


def end(tx: Any, window_id: str, now: float, by: str) -> WindowRow | None:
    """End window ``window_id`` at ``now`` and queue ``maintenance.ended``; the window as it now is, or
    ``None`` when there is no such window or it is over already (nothing written)."""
    w = get(tx, window_id)
    if w is None or w.ends_at <= now:
        return None
    tx._x("UPDATE maintenance_windows SET ends_at = ?, ended_by = ? WHERE id = ?", (now, by, window_id))
    tx.audit(now, "maintenance.ended", f"maintenance:{window_id}", {"planned_end": w.ends_at}, actor=by)
    return get(tx, window_id)
