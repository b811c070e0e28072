"""Override requests as the admin API, Slack and the CLI take them: validated, pure (no store).

Times are RFC 3339 with a zone (``2026-12-05T22:00:00Z``) or, for the end, a Prometheus duration from
the start (``8h``); epoch seconds (UTC) inside. ``ValueError`` names the bad field first
(``person: …``), as the API's 400 does.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from receiver.clock import iso, parse_rfc3339
from receiver.durations import parse_duration
from receiver.oncall.resolve import OnCall

PERSON = r"^[A-Za-z0-9_.:@-]{1,200}$"


@dataclass(frozen=True)
class OverrideRequest:
    """An override to create: ``person`` covers ``[starts_at, ends_at)`` of ``schedule``; ``reason``."""

    schedule: str
    person: str
    starts_at: float
    ends_at: float
    reason: str


def parse_time(text: str, field: str = "at") -> float:
    """An RFC 3339 time with a zone as epoch seconds (``receiver.clock.parse_rfc3339``); ``ValueError``
    naming ``field`` otherwise."""
    try:
        return parse_rfc3339(text)
    except ValueError as e:
        raise ValueError(f"{field}: {e}") from None


def validate(schedules: Mapping[str, Any], *, schedule: Any, person: Any, starts_at: Any, ends_at: Any,
             now: float, reason: Any = "") -> OverrideRequest:
    """Check an override's fields; ``ValueError`` naming the bad field.

    ``schedule``: a name in ``schedules`` (the rule set's); ``person``: a name (letters, digits,
    ``_.:@-``); ``starts_at``: RFC 3339 or ``now`` (default now); ``ends_at``: RFC 3339 or a duration
    from the start. The end must be after the start and after now.
    """
    if not isinstance(schedule, str) or schedule not in schedules:
        known = ", ".join(sorted(schedules)) or "none defined"
        raise ValueError(f"schedule: unknown schedule {schedule!r} (known: {known})")
    if not isinstance(person, str) or not re.fullmatch(PERSON, person):
        raise ValueError(f"person: expected a person's name (letters, digits, _.:@-), got {person!r}")
    if starts_at is not None and not isinstance(starts_at, str):
        raise ValueError("starts_at: expected a string")
    if not isinstance(ends_at, str) or not ends_at:
        raise ValueError("ends_at: give an RFC 3339 time or a duration such as 8h")
    if not isinstance(reason, str):
        raise ValueError("reason: expected a string")
    start = now if starts_at in (None, "", "now") else parse_time(starts_at, "starts_at")
    try:
        end = start + parse_duration(ends_at)
    except ValueError:
        end = parse_time(ends_at, "ends_at")
    if end <= start or end <= now:
        raise ValueError(f"ends_at: the end ({iso(end)}) must be after the start ({iso(start)}) and after now")
    return OverrideRequest(schedule, person, start, end, reason.strip())


def new_id() -> str:
    """A fresh override id (``ov-`` and 12 hex digits)."""
    return "ov-" + secrets.token_hex(6)


def override_json(o: Any) -> dict[str, Any]:
    """An override row as the API shows it (times RFC 3339 UTC)."""
    return {"id": o.id, "schedule": o.schedule, "person": o.person, "starts_at": iso(o.starts_at),
            "ends_at": iso(o.ends_at), "reason": o.reason, "created_by": o.created_by,
            "created_at": iso(o.created_at)}


def oncall_json(c: OnCall) -> dict[str, Any]:
    """An ``OnCall`` answer as the API shows it: ``schedule``, ``at``, ``person``, ``until``, ``source``."""
    return {"schedule": c.schedule, "at": iso(c.at), "person": c.person, "until": iso(c.until), "source": c.source}


def oncall_text(c: OnCall) -> str:
    """One line for people: ``primary: alice until 2026-03-09T13:00:00Z (layer:weekly)``."""
    who = c.person or "no one"
    until = f"until {iso(c.until)}" if c.until is not None else "with no change ahead"
    return f"{c.schedule}: {who} {until} ({c.source})"
