"""Alertmanager's ``time_intervals``: named sets of times, used by ``severity_during`` and ``when:``.

Syntax and meaning follow prometheus/alertmanager ``timeinterval/timeinterval.go``::

    time_intervals:
      - name: market-hours
        time_intervals:
          - times: [{start_time: "09:30", end_time: "16:00"}]
            weekdays: ["monday:friday"]
            location: America/New_York

- A named ``TimeInterval`` contains an instant when any of its ``time_intervals`` does (OR); an
  empty list contains nothing. Within one ``TimeRange`` every given field must hold (AND); the
  items of one field are alternatives (OR). An omitted or ``null`` field holds always; an
  explicitly empty list (``weekdays: []``) never holds, as in ``ContainsTime`` (it tests
  ``tp.Weekdays != nil`` and yaml.v2 decodes ``[]`` to an empty, non-nil slice).
- Ranges ``a:b`` are inclusive; a single value ``a`` is ``a:a``. ``times`` are ``HH:MM`` (two
  digits, ``00:00``-``24:00``) with ``end_time`` exclusive, compared by the minute.
- ``weekdays``: names only (``sunday`` … ``saturday``, any case); Sunday is the first day, ranges
  do not wrap (``saturday:sunday`` is invalid: write ``[saturday, sunday]``).
- ``days_of_month``: 1…31 or -31…-1 counted from the month's end (``-1`` is the last day); a range
  is clamped to the month, and one that starts after the month's end matches nothing.
- ``months``: names (any case) or 1…12. ``years``: numbers (any, as Alertmanager).
- ``location``: an IANA zone the fields are read in (DST observed); omitted, ``null`` or ``''``
  is UTC (Go's ``time.LoadLocation("")``).
- Items are read as Go reads them: lower-cased, split at ``:``, no whitespace trimmed.

Deliberate differences, each refused by ``runbookd check`` with its reason:

- ``location: Local`` (the machine's zone in Go): a rule's meaning would depend on the host it runs
  on, and ``runbookd test`` in CI would disagree with production. Name the zone.
- A month number outside 1…12 (Go accepts ``13`` and never matches it, reads ``0:3`` as 1…3).

And one in meaning: a month's length is counted on the calendar, as in Alertmanager after
PR #5447 (before it, a month with a spring-forward DST change counted 30 days in a non-UTC location,
so ``-1`` meant the 30th of March).

Rule files are read by ``receiver.rules.yamlpos.RuleLoader``, which (like yaml.v2) has no YAML 1.1
base-60 numbers, so an unquoted ``16:00`` or ``1:5`` arrives as text. A YAML number is taken as its
decimal text, as yaml.v2 does when it decodes a scalar into a Go string: ``days_of_month: [5]`` is
``'5'``, and ``start_time: 1020`` is refused (``couldn't parse timestamp 1020``).
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator, model_validator

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)
_CLOCK = re.compile(r"(?:([01][0-9]|2[0-3]):([0-5][0-9]))|24:00")
_INT = re.compile(r"[+-]?[0-9]+")


def _parts(value: Any, what: str) -> tuple[str, str]:
    """``"a:b"`` → ``("a", "b")``, ``"a"`` → ``("a", "a")``; numbers are taken as their text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a {what} or a range 'a:b' as text")
    text = str(value).lower()  # as stringableRangeFromString: no whitespace trimmed
    pieces = text.split(":")
    if len(pieces) > 2:
        raise ValueError(f"couldn't parse range {text}, invalid format: expected 'a' or 'a:b'")
    return pieces[0], pieces[-1]


def _number(text: str, what: str) -> int:
    if not _INT.fullmatch(text):  # strconv.Atoi: optional sign, decimal digits
        raise ValueError(f"unknown {what} {text!r}: expected a number")
    return int(text)


def _weekdays(value: Any) -> tuple[int, int]:
    begin, end = _parts(value, "weekday")
    for name in (begin, end):
        if name not in WEEKDAYS:
            raise ValueError(f"{name} is not a valid weekday (expected sunday … saturday)")
    b, e = WEEKDAYS.index(begin), WEEKDAYS.index(end)
    if b > e:
        raise ValueError(f"start day cannot be before end day: {begin} is after {end} (Sunday is the first "
                         "day; ranges do not wrap)")
    return b, e


def _days_of_month(value: Any) -> tuple[int, int]:
    begin, end = _parts(value, "day of the month")
    b, e = _number(begin, "day of the month"), _number(end, "day of the month")
    for n in (b, e):
        if n == 0 or not -31 <= n <= 31:
            raise ValueError(f"{n} is not a valid day of the month: out of range")
    if b < 0 < e:
        raise ValueError("end day must be negative if start day is negative")
    # Alertmanager's check: with negatives counted back from a 28-day month, is the range always empty?
    if (28 + b if b < 0 else b) > (28 + e if e < 0 else e):
        raise ValueError(f"end day {e} is always before start day {b}")
    return b, e


def _month(text: str, value: Any) -> int:
    if text in MONTHS:
        return MONTHS.index(text) + 1
    if _INT.fullmatch(text):
        if 1 <= int(text) <= 12:
            return int(text)
        raise ValueError(f"month {text} is outside 1 … 12: Alertmanager accepts it, but no month has that "
                         f"number, so runbookd refuses it")
    raise ValueError(f"{text} is not a valid month (expected january … december or 1 … 12)")


def _months(value: Any) -> tuple[int, int]:
    begin, end = _parts(value, "month")
    b, e = _month(begin, value), _month(end, value)
    if b > e:
        raise ValueError(f"end month {MONTHS[e - 1]} is before start month {MONTHS[b - 1]}")
    return b, e


def _years(value: Any) -> tuple[int, int]:
    begin, end = _parts(value, "year")
    b, e = _number(begin, "year"), _number(end, "year")
    if b > e:
        raise ValueError(f"end year {e} is before start year {b}")
    return b, e


def _clock(value: Any) -> int:
    """``HH:MM`` → minutes since midnight (``24:00`` → 1440), as timeinterval.go's ``parseTime``."""
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError(f"couldn't parse timestamp {value}, invalid format: expected HH:MM from 00:00 to 24:00")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _fmt_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _fmt_range(names: tuple[str, ...] | None = None, first: int = 0) -> Any:
    """A serializer writing ``(begin, end)`` back as Alertmanager does: ``a`` or ``a:b``, named when it can."""

    def fmt(r: tuple[int, int]) -> str:
        b, e = (names[r[0] - first], names[r[1] - first]) if names else r
        return str(b) if r[0] == r[1] else f"{b}:{e}"

    return fmt


Clock = Annotated[int, BeforeValidator(_clock), PlainSerializer(_fmt_clock, return_type=str)]
WeekdayRange = Annotated[
    tuple[int, int], BeforeValidator(_weekdays), PlainSerializer(_fmt_range(WEEKDAYS), return_type=str)
]
DayOfMonthRange = Annotated[
    tuple[int, int], BeforeValidator(_days_of_month), PlainSerializer(_fmt_range(), return_type=str)
]
MonthRange = Annotated[
    tuple[int, int], BeforeValidator(_months), PlainSerializer(_fmt_range(MONTHS, 1), return_type=str)
]
YearRange = Annotated[tuple[int, int], BeforeValidator(_years), PlainSerializer(_fmt_range(), return_type=str)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeOfDay(_Strict):
    """One item of ``times``: ``start_time`` inclusive, ``end_time`` exclusive (minutes since midnight
    after loading; ``HH:MM`` when dumped)."""

    start_time: Clock
    end_time: Clock

    @model_validator(mode="after")
    def _ordered(self) -> TimeOfDay:
        if self.start_time >= self.end_time:
            raise ValueError(
                f"start_time {_fmt_clock(self.start_time)} must be before end_time {_fmt_clock(self.end_time)}"
            )
        return self


class TimeRange(_Strict):
    """One item of a named interval's ``time_intervals`` (Alertmanager's ``TimeInterval``).

    Ranges are kept as inclusive ``(begin, end)`` integers: weekdays 0 (Sunday) … 6, days of the
    month ±1 … 31, months 1 … 12, years.
    """

    times: list[TimeOfDay] | None = None
    weekdays: list[WeekdayRange] | None = None
    days_of_month: list[DayOfMonthRange] | None = None
    months: list[MonthRange] | None = None
    years: list[YearRange] | None = None
    location: str = "UTC"

    @field_validator("location", mode="before")
    @classmethod
    def _zone(cls, name: Any) -> str:
        if name is None or name == "":  # yaml.v2 leaves a null *Location nil; LoadLocation("") is UTC
            return "UTC"
        if name == "Local":
            raise ValueError("location 'Local' (the zone of the machine Alertmanager runs on) is refused: "
                             "a rule would then mean different times on different hosts and in CI; "
                             "name the zone, e.g. America/New_York")
        if not isinstance(name, str):
            raise ValueError(f"unknown location {name!r} (expected an IANA zone such as America/New_York)")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown location {name!r} (expected an IANA zone such as America/New_York)") from None
        return name

    def contains(self, epoch: float) -> bool:
        """Whether ``epoch`` (seconds since the Unix epoch, UTC) falls in this range, read in ``location``.

        As ``ContainsTime``: a field that is ``None`` holds always, an empty list never.
        """
        t = datetime.fromtimestamp(epoch, ZoneInfo(self.location))
        if self.times is not None:
            minute = t.hour * 60 + t.minute
            if not any(r.start_time <= minute < r.end_time for r in self.times):
                return False
        if self.days_of_month is not None and not any(_day_in(t, b, e) for b, e in self.days_of_month):
            return False
        if self.months is not None and not any(b <= t.month <= e for b, e in self.months):
            return False
        weekday = (t.weekday() + 1) % 7  # Python counts from Monday = 0; Alertmanager from Sunday = 0
        if self.weekdays is not None and not any(b <= weekday <= e for b, e in self.weekdays):
            return False
        return self.years is None or any(b <= t.year <= e for b, e in self.years)


def _day_in(t: datetime, begin: int, end: int) -> bool:
    """Alertmanager's days_of_month test: negatives from the month's end, clamped to the month."""
    days = calendar.monthrange(t.year, t.month)[1]
    b = days + begin + 1 if begin < 0 else begin
    e = days + end + 1 if end < 0 else end
    if b > days:
        return False
    b, e = max(-days, min(b, days)), max(-days, min(e, days))
    return b <= t.day <= e


class TimeInterval(_Strict):
    """One entry of ``time_intervals:`` — a name and the ranges it covers (any of them)."""

    name: str = Field(min_length=1, max_length=200)
    time_intervals: list[TimeRange] = Field(default_factory=list)

    def contains(self, epoch: float) -> bool:
        """Whether any of ``time_intervals`` contains ``epoch`` (seconds since the epoch, UTC)."""
        return any(r.contains(epoch) for r in self.time_intervals)
