"""``schedules:`` — on-call rotations in rule files (pydantic v2, unknown keys forbidden).

A schedule is a list of ``layers``, each a rotation::

    schedules:
      - name: primary
        layers:
          - name: weekly
            members: [alice, bob, carol]   # in rotation order
            shift: weekly                  # daily, weekly, or a duration (12h, 3d)
            handoff: "09:00"               # local time of the handoff, in timezone
            timezone: America/New_York     # an IANA zone (zoneinfo); DST observed
            start: 2026-01-05              # optional: the first member's first shift starts here
          - name: nights
            members: [dave]
            time_interval: nights          # optional: only inside this time interval

A later layer overrides an earlier one wherever it has someone on call; overrides (stored, made from
the admin API or Slack) win over every layer. Who is on call is computed by ``receiver.oncall``.
Zones and time-interval names are checked by ``runbookd check`` (``receiver.rules.schedule_checks``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BeforeValidator, Field

from receiver.durations import parse_duration
from receiver.rules.step_base import Name, _Strict


def _shift(value: object) -> object:
    """``daily`` and ``weekly`` stay words (calendar shifts); anything else is a duration in seconds."""
    if isinstance(value, str) and value in ("daily", "weekly"):
        return value
    if not isinstance(value, str | int | float):
        raise ValueError(f"not a shift length: {value!r}")
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("a custom shift length must be positive")
    return seconds


Shift = Annotated[str | float, BeforeValidator(_shift)]


class Layer(_Strict):
    """One layer of a schedule: a rotation of ``members`` with shifts of ``shift`` from ``start``.

    ``daily`` and ``weekly`` shifts hand off at ``handoff`` local time in ``timezone`` (so a weekly shift
    that spans a DST change lasts 167 or 169 hours); a custom duration is exact elapsed seconds from the
    first handoff. Before ``start`` (default 1970-01-05, a Monday) the layer has no one on call.
    """

    name: Name
    members: list[Name] = Field(min_length=1, description="people in rotation order")
    shift: Shift = Field(default="weekly", description="daily, weekly or a duration (e.g. 12h)")
    handoff: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                         description="HH:MM local time of each handoff")
    timezone: str = Field(default="UTC", description="IANA zone of handoff and start")
    start: dt.date = Field(default=dt.date(1970, 1, 5), description="date of the first handoff")
    time_interval: Name | None = Field(
        default=None, description="only inside this time interval (time_intervals:) does the layer have "
        "someone on call")


class Schedule(_Strict):
    """One entry of ``schedules:``: named layers, a later one overriding an earlier one."""

    name: Name
    layers: list[Layer] = Field(min_length=1)
