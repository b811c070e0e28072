"""``runbookd check`` for ``schedules:``: zones, time-interval references and layer names, at file:line.

Names and members are shaped by the model (``receiver.rules.schedules``); here are the checks that
need more than one field: a zone ``zoneinfo`` knows, a ``time_interval`` that exists, layer names unique
within their schedule. Duplicate schedule names across files are found by ``receiver.rules.checks.merge``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from receiver.errors import RuleFileError
from receiver.rules.schedules import Schedule

if TYPE_CHECKING:
    from receiver.rules.checks import ParsedFile


def valid_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone that ``zoneinfo`` loads (``Local`` and empty are refused)."""
    if not name or name == "Local":
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_schedule(f: ParsedFile, idx: int, schedule: Schedule, intervals: Mapping[str, Any]) -> list[RuleFileError]:
    """Every problem of ``schedules[idx]`` of file ``f`` as ``RuleFileError`` at the offending line."""
    return list(_problems(f, idx, schedule, intervals))


def _problems(f: ParsedFile, idx: int, schedule: Schedule, intervals: Mapping[str, Any]) -> Iterator[RuleFileError]:
    item = ("schedules", idx)
    seen: set[str] = set()
    for j, layer in enumerate(schedule.layers):
        if layer.name in seen:
            yield f.error(item, ("layers", j, "name"), schedule.name, f"duplicate layer name '{layer.name}'")
        seen.add(layer.name)
        if not valid_zone(layer.timezone):
            yield f.error(item, ("layers", j, "timezone"), schedule.name,
                          f"unknown time zone '{layer.timezone}' (an IANA name, e.g. America/New_York)")
        if layer.time_interval is not None and layer.time_interval not in intervals:
            yield f.error(item, ("layers", j, "time_interval"), schedule.name,
                          f"unknown time interval '{layer.time_interval}'")
