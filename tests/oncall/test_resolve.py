"""Who is on call (receiver.oncall.resolve.on_call): layers, time intervals, overrides, until when."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from receiver.oncall.resolve import on_call
from receiver.rules.schedules import Schedule
from receiver.rules.timeintervals import TimeInterval
from tests.oncall.test_rotation import LONDON, NY, at, local


@dataclass(frozen=True)
class Ov:
    id: str
    schedule: str
    person: str
    starts_at: float
    ends_at: float
    created_at: float = 0.0


def schedule(*layers: dict[str, Any]) -> Schedule:
    return Schedule.model_validate({"name": "primary", "layers": list(layers)})


DAILY = {"name": "day", "members": ["alice", "bob"], "shift": "daily", "timezone": NY, "start": "2026-01-05"}


@pytest.mark.parametrize(("zone", "y", "m", "d"), [(NY, 2026, 3, 8), (NY, 2026, 11, 1), (LONDON, 2026, 3, 29),
                                                   (LONDON, 2026, 10, 25)])
def test_until_is_the_next_handoff_at_nine_local_across_dst(zone: str, y: int, m: int, d: int) -> None:
    """At 03:30 on a DST-change day, the person on call holds until 09:00 local that day; the answer at
    09:00 names the other member, until 09:00 local the next day."""
    s = schedule({**DAILY, "timezone": zone})
    night = on_call(s, at(zone, y, m, d, 3, 30))
    assert night.until is not None and local(zone, night.until) == (y, m, d, 9, 0)
    morning = on_call(s, night.until)
    assert morning.person != night.person and morning.person in ("alice", "bob")
    assert morning.until is not None and morning.until - night.until == 24 * 3600
    assert local(zone, morning.until)[3:] == (9, 0)


def test_a_single_member_is_on_call_with_no_change_ahead() -> None:
    """Until is the next change of person, not the next handoff: one member never changes (None)."""
    s = schedule({**DAILY, "members": ["alice"]})
    got = on_call(s, at(NY, 2026, 6, 1, 12, 0))
    assert (got.person, got.until, got.source) == ("alice", None, "layer:day")


def test_a_later_layer_overrides_an_earlier_one_inside_its_time_interval() -> None:
    """A night layer restricted to 22:00-06:00 wins at night and leaves the day to the base layer; until
    is the interval's edge."""
    nights = TimeInterval.model_validate({"name": "nights", "time_intervals": [
        {"times": [{"start_time": "22:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "06:00"}],
         "location": NY}]})
    s = schedule({**DAILY, "members": ["alice"]}, {"name": "night", "members": ["dave"], "timezone": NY,
                                                   "time_interval": "nights"})
    intervals = {"nights": nights}

    def inside(name: str, t: float) -> bool:
        return nights.contains(t) if name in intervals else False

    day = on_call(s, at(NY, 2026, 6, 1, 12, 0), in_interval=inside)
    assert (day.person, day.source) == ("alice", "layer:day")
    assert day.until is not None and local(NY, day.until) == (2026, 6, 1, 22, 0)
    night = on_call(s, day.until, in_interval=inside)
    assert (night.person, night.source) == ("dave", "layer:night")
    assert night.until is not None and local(NY, night.until) == (2026, 6, 2, 6, 0)


def test_a_restricted_layer_without_an_interval_lookup_is_an_error() -> None:
    """A layer with time_interval and no in_interval raises KeyError rather than guessing."""
    s = schedule({**DAILY, "time_interval": "nights"})
    with pytest.raises(KeyError):
        on_call(s, at(NY, 2026, 6, 1, 12, 0))


def test_an_override_wins_over_the_layers_for_its_span() -> None:
    """During an override its person is on call until it ends; before it, until is its start."""
    s = schedule({**DAILY, "members": ["alice"]})
    ov = Ov("o1", "primary", "carol", at(NY, 2026, 6, 1, 13, 0), at(NY, 2026, 6, 1, 15, 0))
    before = on_call(s, at(NY, 2026, 6, 1, 12, 0), [ov])
    assert (before.person, before.until) == ("alice", ov.starts_at)
    during = on_call(s, at(NY, 2026, 6, 1, 14, 0), [ov])
    assert (during.person, during.until, during.source) == ("carol", ov.ends_at, "override:o1")
    assert on_call(s, ov.ends_at, [ov]).person == "alice"


def test_the_latest_override_wins_and_other_schedules_overrides_are_ignored() -> None:
    """Of two overlapping overrides the later created wins; an override of another schedule does nothing."""
    s = schedule({**DAILY, "members": ["alice"]})
    t = at(NY, 2026, 6, 1, 12, 0)
    old = Ov("o1", "primary", "carol", t - 60, t + 3600, created_at=1.0)
    new = Ov("o2", "primary", "erin", t - 60, t + 60, created_at=2.0)
    other = Ov("o3", "secondary", "zed", t - 60, t + 3600, created_at=3.0)
    got = on_call(s, t, [old, new, other])
    assert (got.person, got.until) == ("erin", t + 60)
    assert on_call(s, t + 60, [old, new, other]).person == "carol"


def test_before_every_layer_starts_no_one_is_on_call_until_the_first_handoff() -> None:
    """No one is on call before the start date; until is the first handoff."""
    s = schedule({**DAILY, "start": "2026-06-01"})
    got = on_call(s, at(NY, 2026, 5, 31, 12, 0))
    assert (got.person, got.source) == (None, "none")
    assert got.until == at(NY, 2026, 6, 1, 9, 0)
    assert dt.datetime.fromtimestamp(got.until, dt.UTC).hour == 13
