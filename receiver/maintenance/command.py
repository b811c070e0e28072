"""``/runbookd maintenance …`` in Slack: parse and carry out the subcommand (docs/maintenance.md).

``maintenance start DURATION|until TIME MATCHER… -- REASON`` (``start 2h service="risk" -- upgrade``,
``start until 2026-12-05T22:00:00Z env=~"prod|dr" -- DB failover``), ``maintenance list``,
``maintenance end ID``. Matchers are Alertmanager matchers, separated by spaces (quoted values may hold
spaces) or commas. Listing needs role viewer, start and end role admin.
"""

from __future__ import annotations

import re
from typing import Any

from receiver.clock import iso
from receiver.durations import format_duration
from receiver.maintenance import service
from receiver.store import maintenance as rows

USAGE = ("usage: /runbookd maintenance start DURATION|until TIME MATCHER... -- REASON | maintenance list | "
         "maintenance end ID\n"
         'e.g. /runbookd maintenance start 2h service="risk" -- risk engine upgrade (CHG-1234)')
_TOKEN = re.compile(r'(?:[^\s"]|"(?:\\.|[^"\\])*")+')


def action_of(text: str) -> str:
    """The access action of a ``maintenance …`` text: ``view`` for ``list``, else ``maintenance``."""
    words = text.split()
    return "view" if len(words) < 2 or words[1].lower() == "list" else "maintenance"


def parse_start(text: str, now: float) -> service.WindowRequest:
    """The window of ``start …`` (``text`` after ``start``); ``ValueError`` with what is wrong."""
    head, sep, reason = text.partition(" -- ")
    if not sep:
        head, sep, reason = text.partition("--")
    if not sep or not reason.strip():
        raise ValueError("say why after ' -- ' (e.g. -- risk engine upgrade)")
    words = _TOKEN.findall(head)
    if not words:
        raise ValueError("give a duration (2h) or until TIME, then matchers")
    if words[0].lower() == "until":
        if len(words) < 2:
            raise ValueError("until needs an RFC 3339 time, e.g. 2026-12-05T22:00:00Z")
        end, matchers = {"ends_at": words[1]}, words[2:]
    else:
        end, matchers = {"duration": words[0]}, words[1:]
    return service.validate(matchers, now=now, reason=reason, **end)


def run(tx: Any, text: str, *, by: str, now: float) -> tuple[bool, str]:
    """Carry out ``maintenance …`` (``text`` is the whole command text) in a transaction; returns
    ``(changed, answer)``: ``changed`` true when the channel should see the answer."""
    words = text.split()
    verb = words[1].lower() if len(words) > 1 else "list"
    if verb == "list":
        current = rows.current(tx, now)
        if not current:
            return False, "No current maintenance windows."
        return False, "\n".join(_line(w, now) for w in current)
    if verb == "end":
        if len(words) < 3:
            return False, "usage: /runbookd maintenance end ID"
        w = service.end_window(tx, words[2], by=by, now=now)
        return (True, f"Maintenance window {w.id} ended by {by}.") if w else \
            (False, f"No current maintenance window {words[2]!r}.")
    if verb == "start":
        rest = text.split(None, 2)[2] if len(words) > 2 else ""
        try:
            req = parse_start(rest, now)
        except ValueError as e:
            return False, f"Cannot start maintenance: {e}\n{USAGE}"
        w = service.create_window(tx, req, by=by, now=now)
        return True, f"Maintenance window {w.id} started by {by}: " + _line(w, now)
    return False, f"unknown maintenance subcommand {verb!r}\n{USAGE}"


def _line(w: rows.WindowRow, now: float) -> str:
    state = "active" if w.starts_at <= now < w.ends_at else "starts " + str(iso(w.starts_at))
    return (f"{w.id} {', '.join(w.matchers)} until {iso(w.ends_at)} ({state}, "
            f"{format_duration(max(0.0, w.ends_at - max(now, w.starts_at)))} left): {w.reason} (by {w.created_by})")
