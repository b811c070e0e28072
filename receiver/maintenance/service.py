"""Creating, listing and ending maintenance windows: units of work shared by the admin API and Slack.

Each function runs inside one store transaction. Creating a window stores it (audit
``maintenance.created``), puts ``maintenance.started`` on the timeline of every open incident it
matches and enqueues its Alertmanager silence (receiver.maintenance.silences; a no-op without
``alertmanager.urls``). Ending one early moves its end to now (audit ``maintenance.ended``), puts
``maintenance.ended`` on the timelines, makes the pages it held back due at once and expires its
silence.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from receiver.clock import iso, parse_rfc3339
from receiver.durations import format_duration, parse_duration
from receiver.maintenance import silences
from receiver.maintenance.windows import matching, parse_window_matchers
from receiver.model import TimelineEvent
from receiver.store import maintenance as rows
from receiver.store.maintenance import WindowRow


@dataclass(frozen=True)
class WindowRequest:
    """A window to create, validated: ``matchers`` (strings), ``starts_at`` / ``ends_at`` (epoch s), ``reason``."""

    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    reason: str


def parse_time(text: str) -> float:
    """An RFC 3339 time with a zone as epoch seconds (``receiver.clock.parse_rfc3339``); ``ValueError`` otherwise."""
    return parse_rfc3339(text)


def validate(matchers: Any, *, now: float, starts_at: str | None = None, ends_at: str | None = None,
             duration: str | None = None, reason: Any = "") -> WindowRequest:
    """Check a window's fields as the API and Slack take them; ``ValueError`` naming the bad field.

    ``matchers``: a non-empty list of Alertmanager matcher strings; ``starts_at`` (default now) and
    ``ends_at`` RFC 3339, or ``duration`` (a Prometheus duration from the start) instead of ``ends_at``;
    ``reason``: non-empty text. The end must be after the start and after now.
    """
    if not isinstance(matchers, list) or not matchers or not all(isinstance(m, str) for m in matchers):
        raise ValueError("matchers: expected a non-empty list of matcher strings, e.g. [\"service=\\\"risk\\\"\"]")
    try:
        parse_window_matchers(matchers)
    except ValueError as e:
        raise ValueError(f"matchers: {e}") from None
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("reason: say why (planned work, a change ticket)")
    start = parse_time(starts_at) if starts_at else now
    if (ends_at is None) == (duration is None):
        raise ValueError("ends_at: give ends_at or duration (one of them)")
    end = parse_time(ends_at) if ends_at is not None else start + parse_duration(str(duration))
    if end <= start or end <= now:
        raise ValueError(f"ends_at: the end ({iso(end)}) must be after the start ({iso(start)}) and after now")
    return WindowRequest(tuple(matchers), start, end, reason.strip())


def open_incidents(tx: Any) -> list[Any]:
    """Every unresolved incident (firing or acknowledged)."""
    return [i for s in ("firing", "acknowledged") for i in tx.list_incidents(status=s, alertname=None, limit=1000)]


def create_window(tx: Any, req: WindowRequest, *, by: str, now: float) -> WindowRow:
    """Store a new window, record it (audit, timelines of matched open incidents) and enqueue its silence."""
    w = WindowRow(f"mw-{secrets.token_hex(5)}", req.matchers, req.starts_at, req.ends_at, req.reason, by, now)
    rows.insert(tx, w)
    span = f"{iso(w.starts_at)} to {iso(w.ends_at)} ({format_duration(w.ends_at - w.starts_at)})"
    for inc in matching(w, open_incidents(tx)):
        tx.add_event(inc.id, TimelineEvent(
            now, "maintenance.started", f"maintenance window {w.id} by {by} covers this incident's alerts from "
            f"{span}: {w.reason}", {"window": w.id, "by": by, **window_json(w)}))
    silences.plan_window(tx, w, now)
    return w


def end_window(tx: Any, window_id: str, *, by: str, now: float) -> WindowRow | None:
    """End a window now; the window, or ``None`` when unknown or already over (nothing changed)."""
    w = rows.end(tx, window_id, now, by)
    if w is None:
        return None
    for inc in matching(w, open_incidents(tx)):
        tx.add_event(inc.id, TimelineEvent(now, "maintenance.ended", f"maintenance window {w.id} ended early by "
                                           f"{by}", {"window": w.id, "by": by}))
        for j in tx.jobs_of(inc.id):
            if j.kind == "page" and j.state == "pending" and w.id in j.payload.get("muted", {}).get("windows", []):
                tx.make_due(j.key, now)
    silences.plan_window_end(tx, w, now)
    return w


def window_json(w: WindowRow, now: float | None = None) -> dict[str, Any]:
    """The API shape of a window: ``id``, ``matchers``, ``starts_at``, ``ends_at`` (RFC 3339 UTC),
    ``reason``, ``created_by``, ``created_at``, ``ended_by`` and, with ``now``, ``active``."""
    out: dict[str, Any] = {"id": w.id, "matchers": list(w.matchers), "starts_at": iso(w.starts_at),
                           "ends_at": iso(w.ends_at), "reason": w.reason, "created_by": w.created_by,
                           "created_at": iso(w.created_at), "ended_by": w.ended_by}
    if now is not None:
        out["active"] = w.starts_at <= now < w.ends_at
    return out
