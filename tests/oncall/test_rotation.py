"""One layer's shifts (receiver.oncall.rotation): calendar shifts keep local handoff times across DST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from receiver.oncall.rotation import shift_at
from receiver.rules.schedules import Layer

NY, LONDON = "America/New_York", "Europe/London"


def at(zone: str, *args: int) -> float:
    """Epoch of a local wall-clock time in ``zone``."""
    return dt.datetime(*args, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[misc]


def local(zone: str, epoch: float) -> tuple[int, int, int, int, int]:
    t = dt.datetime.fromtimestamp(epoch, ZoneInfo(zone))
    return (t.year, t.month, t.day, t.hour, t.minute)


def layer(zone: str, shift: str = "daily", start: dt.date = dt.date(2026, 1, 5), **kw: object) -> Layer:
    return Layer.model_validate({"name": "l", "members": ["alice", "bob"], "shift": shift, "handoff": "09:00",
                                 "timezone": zone, "start": start, **kw})


@pytest.mark.parametrize(("zone", "change"), [(NY, (2026, 3, 8)), (NY, (2026, 11, 1)),
                                              (LONDON, (2026, 3, 29)), (LONDON, (2026, 10, 25))])
def test_a_daily_handoff_stays_at_nine_local_on_both_sides_of_a_dst_change(
        zone: str, change: tuple[int, int, int]) -> None:
    """The shift that spans the change (09:00 the day before → 09:00 on the day) ends at 09:00 local and
    lasts 23 or 25 hours; the next starts there and ends at 09:00 local the day after, 24 hours later."""
    y, m, d = change
    before = shift_at(layer(zone), at(zone, y, m, d, 8, 59))
    after = shift_at(layer(zone), at(zone, y, m, d, 9, 0))
    assert before is not None and after is not None
    assert local(zone, before.start)[3:] == (9, 0) and local(zone, before.end) == (y, m, d, 9, 0)
    spring = m == 3
    assert before.end - before.start == (23 if spring else 25) * 3600
    assert after.start == before.end and local(zone, after.end)[3:] == (9, 0)
    assert after.end - after.start == 24 * 3600
    assert before.member != after.member


@pytest.mark.parametrize(("zone", "monday", "hours"), [
    (NY, dt.date(2026, 3, 2), 167), (NY, dt.date(2026, 10, 26), 169),
    (LONDON, dt.date(2026, 3, 23), 167), (LONDON, dt.date(2026, 10, 19), 169),
])
def test_a_weekly_shift_around_a_dst_change_lasts_167_or_169_hours(zone: str, monday: dt.date, hours: int) -> None:
    """A weekly shift from Monday 09:00 local to the next Monday 09:00 local spans the change."""
    lay = layer(zone, "weekly", start=dt.date(2026, 1, 5))
    s = shift_at(lay, at(zone, monday.year, monday.month, monday.day, 12, 0))
    assert s is not None
    assert local(zone, s.start) == (monday.year, monday.month, monday.day, 9, 0)
    assert s.end - s.start == hours * 3600
    assert local(zone, s.end)[3:] == (9, 0)


def test_members_take_turns_in_order_from_the_start_date() -> None:
    """Shift 0 (from the start date's handoff) is the first member's, shift 1 the second's, then again."""
    lay = Layer.model_validate({"name": "l", "members": ["a", "b", "c"], "shift": "daily",
                                "timezone": NY, "start": "2026-06-01"})
    who = [shift_at(lay, at(NY, 2026, 6, day, 10, 0)) for day in (1, 2, 3, 4)]
    assert [s.member for s in who if s] == ["a", "b", "c", "a"]


def test_before_the_start_date_the_layer_has_no_one() -> None:
    """An instant before the first handoff (08:59 on the start date) has no shift."""
    lay = layer(NY, start=dt.date(2026, 6, 1))
    assert shift_at(lay, at(NY, 2026, 6, 1, 8, 59)) is None
    assert shift_at(lay, at(NY, 2026, 6, 1, 9, 0)) is not None


def test_a_custom_shift_is_exact_elapsed_time_across_dst() -> None:
    """A 12h shift lasts 12 hours of real time even across the spring-forward night (09:00 → 22:00 local)."""
    lay = layer(NY, "12h", start=dt.date(2026, 3, 7))
    s = shift_at(lay, at(NY, 2026, 3, 8, 0, 0))
    assert s is not None
    assert s.end - s.start == 12 * 3600
    assert local(NY, s.start) == (2026, 3, 7, 21, 0) and local(NY, s.end) == (2026, 3, 8, 10, 0)


def test_a_handoff_in_the_skipped_hour_happens_at_its_offset_before_the_change() -> None:
    """A 02:30 handoff on 2026-03-08 in New York (02:00-03:00 does not exist) is at 03:30 EDT (07:30 UTC);
    on the fall-back day 2026-11-01, 01:30 exists twice and the handoff is the first (EDT, 05:30 UTC)."""
    spring = layer(NY, handoff="02:30")
    s = shift_at(spring, at(NY, 2026, 3, 8, 12, 0))
    assert s is not None and local(NY, s.start) == (2026, 3, 8, 3, 30)
    assert dt.datetime.fromtimestamp(s.start, dt.UTC).hour == 7
    autumn = layer(NY, handoff="01:30")
    a = shift_at(autumn, at(NY, 2026, 11, 1, 12, 0))
    assert a is not None and dt.datetime.fromtimestamp(a.start, dt.UTC).timetuple()[3:5] == (5, 30)
    assert a.end - a.start == 25 * 3600
