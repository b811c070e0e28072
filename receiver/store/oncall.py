"""Rows of ``oncall_overrides`` (schema v14): a person covers a span of an on-call schedule.

Functions take a ``SqlTx``; creating and deleting an override also queue its audit record
(``oncall.override.created``, ``oncall.override.deleted``) in the same transaction. Times are epoch
seconds (UTC); an override covers ``t`` when ``starts_at <= t < ends_at``. Who is on call is computed
from these rows by ``receiver.oncall.resolve`` (the store knows nothing of schedules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OverrideRow:
    """One override: ``person`` covers ``[starts_at, ends_at)`` of ``schedule``; ``created_by`` the actor."""

    id: str
    schedule: str
    person: str
    starts_at: float
    ends_at: float
    reason: str
    created_by: str
    created_at: float


_COLS = "id, schedule, person, starts_at, ends_at, reason, created_by, created_at"


def _row(r: Any) -> OverrideRow:
    return OverrideRow(r[0], r[1], r[2], float(r[3]), float(r[4]), r[5], r[6], float(r[7]))


def insert(tx: Any, o: OverrideRow) -> None:
    """Store a new override and queue ``oncall.override.created``."""
    tx._x(f"INSERT INTO oncall_overrides ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          (o.id, o.schedule, o.person, o.starts_at, o.ends_at, o.reason, o.created_by, o.created_at))
    tx.audit(o.created_at, "oncall.override.created", f"oncall:{o.schedule}",
             {"id": o.id, "person": o.person, "starts_at": o.starts_at, "ends_at": o.ends_at, "reason": o.reason},
             actor=o.created_by)


def get(tx: Any, override_id: str) -> OverrideRow | None:
    """The override ``override_id``, or ``None``."""
    r = tx._x(f"SELECT {_COLS} FROM oncall_overrides WHERE id = ?", (override_id,)).fetchone()
    return _row(r) if r else None


def current(tx: Any, now: float, schedule: str | None = None) -> list[OverrideRow]:
    """Overrides not over at ``now`` (active or to come), of ``schedule`` or all; soonest start first."""
    sql = f"SELECT {_COLS} FROM oncall_overrides WHERE ends_at > ?"
    args: tuple[Any, ...] = (now,)
    if schedule is not None:
        sql += " AND schedule = ?"
        args += (schedule,)
    return [_row(r) for r in tx._x(sql + " ORDER BY starts_at, id", args).fetchall()]


def delete(tx: Any, override_id: str, now: float, by: str) -> OverrideRow | None:
    """Delete override ``override_id`` and queue ``oncall.override.deleted``; the row as it was, or
    ``None`` when there is none (nothing written)."""
    o = get(tx, override_id)
    if o is None:
        return None
    tx._x("DELETE FROM oncall_overrides WHERE id = ?", (override_id,))
    tx.audit(now, "oncall.override.deleted", f"oncall:{o.schedule}",
             {"id": o.id, "person": o.person, "starts_at": o.starts_at, "ends_at": o.ends_at}, actor=by)
    return o
