"""``/runbookd oncall [SCHEDULE]`` and ``/runbookd override SCHEDULE PERSON FROM UNTIL [-- REASON]`` in Slack.

``FROM`` is RFC 3339 with a zone or ``now``; ``UNTIL`` RFC 3339 or a duration from ``FROM`` (``8h``).
``oncall`` needs role viewer and answers the caller alone; ``override`` needs admin (action ``oncall``),
is recorded in the audit log and answered in the channel. Answers are ``(changed, text)``.
"""

from __future__ import annotations

from typing import Any

from receiver.api.oncall import create_override, who_is_on_call
from receiver.clock import iso
from receiver.oncall import requests
from receiver.store.base import Store

OVERRIDE_USAGE = "usage: /runbookd override SCHEDULE PERSON FROM|now UNTIL|DURATION [-- REASON]"


async def oncall(store: Store, ruleset: Any, words: list[str], now: float) -> str:
    """The text of ``/runbookd oncall [SCHEDULE]``: one line per schedule (or the one named)."""
    name = words[1] if len(words) > 1 else None
    if name is not None and name not in ruleset.schedules:
        return f"unknown schedule {name!r} (known: {', '.join(sorted(ruleset.schedules)) or 'none defined'})"
    found = await who_is_on_call(store, ruleset, now, name)
    return "\n".join(requests.oncall_text(c) for c in found) or "No schedules are defined (schedules: in rule files)."


async def override(store: Store, ruleset: Any, text: str, *, by: str, now: float) -> tuple[bool, str]:
    """Run ``/runbookd override …`` (``text``: the command's text); ``(created, answer)``."""
    head, _, reason = text.partition(" -- ")
    words = head.split()
    if len(words) != 5:
        return False, OVERRIDE_USAGE
    _, schedule, person, start, end = words
    try:
        req = requests.validate(ruleset.schedules, schedule=schedule, person=person, starts_at=start, ends_at=end,
                                now=now, reason=reason)
    except ValueError as e:
        return False, f"Cannot override: {e}\n{OVERRIDE_USAGE}"
    row = await create_override(store, req, by=by, now=now)
    return True, (f"Override {row.id}: {row.person} covers {row.schedule} from {iso(row.starts_at)} until "
                  f"{iso(row.ends_at)} (set by {by})")
