"""Who is on call in a schedule at an instant, and until when: layers, time intervals and overrides.

The rule: an override that covers the instant wins (the most recently created one when several do);
else the last layer that has someone on call then (its shift has begun and, when it names a
``time_interval``, the interval contains the instant); else no one. ``until`` is the next instant at
which that answer names another person (or no one), found by walking the layers' handoffs, the
overrides' edges and, for layers restricted to a time interval, the minutes (Alertmanager's intervals
are minute-grained); ``None`` when nothing changes within ``horizon`` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from receiver.oncall.rotation import boundary, shift_at
from receiver.rules.schedules import Schedule

HORIZON = 35 * 86400.0
"""How far ahead (seconds) ``on_call`` looks for the next change of person."""

InInterval = Callable[[str, float], bool]
"""``(time interval name, epoch) -> bool``: ``RuleSet.in_interval``."""


class Override(Protocol):
    """A person covering ``[starts_at, ends_at)`` (epoch seconds, UTC) of ``schedule``; ``created_at``
    orders overlapping ones (the later wins). ``receiver.store.oncall.OverrideRow`` is one."""

    @property
    def id(self) -> str: ...
    @property
    def schedule(self) -> str: ...
    @property
    def person(self) -> str: ...
    @property
    def starts_at(self) -> float: ...
    @property
    def ends_at(self) -> float: ...
    @property
    def created_at(self) -> float: ...


@dataclass(frozen=True)
class OnCall:
    """The answer: ``person`` (``None``: no one) of ``schedule`` at ``at``, ``until`` the next change of
    person (epoch seconds; ``None``: none within the horizon), ``source`` ``layer:<name>``,
    ``override:<id>`` or ``none``."""

    schedule: str
    at: float
    person: str | None
    until: float | None
    source: str


def _never(name: str, epoch: float) -> bool:
    raise KeyError(name)


def _who(schedule: Schedule, t: float, overrides: Sequence[Override],
         in_interval: InInterval) -> tuple[str | None, str]:
    covering = [o for o in overrides if o.starts_at <= t < o.ends_at]
    if covering:
        o = max(covering, key=lambda o: (o.created_at, o.id))
        return o.person, f"override:{o.id}"
    for layer in reversed(schedule.layers):
        shift = shift_at(layer, t)
        if shift is None or (layer.time_interval is not None and not in_interval(layer.time_interval, t)):
            continue
        return shift.member, f"layer:{layer.name}"
    return None, "none"


def _next_event(schedule: Schedule, t: float, overrides: Sequence[Override], in_interval: InInterval,
                limit: float) -> float:
    """The first instant after ``t`` (at most ``limit``) at which the answer could change."""
    events = [limit]
    events += [e for o in overrides for e in (o.starts_at, o.ends_at) if e > t]
    restricted = [layer.time_interval for layer in schedule.layers if layer.time_interval is not None]
    for layer in schedule.layers:
        shift = shift_at(layer, t)
        if shift is not None:
            events.append(shift.end)
        else:  # before the layer's start: its first handoff is the event
            events.append(boundary(layer, 0))
    nxt = min(e for e in events if e > t)
    if restricted:
        inside = [in_interval(n, t) for n in restricted]
        minute = (math.floor(t / 60) + 1) * 60.0
        while minute < nxt:
            if [in_interval(n, minute) for n in restricted] != inside:
                return minute
            minute += 60.0
    return nxt


def on_call(schedule: Schedule, at: float, overrides: Sequence[Override] = (), *,
            in_interval: InInterval = _never, horizon: float = HORIZON) -> OnCall:
    """Who is on call in ``schedule`` at ``at`` (epoch seconds, UTC) and until when (``OnCall``).

    ``overrides`` may hold other schedules' overrides (they are left out); ``in_interval`` answers for
    the layers' ``time_interval`` (``RuleSet.in_interval``; the default raises ``KeyError``, so a
    restricted layer without it is a caller's bug, not a silent answer).
    """
    mine = [o for o in overrides if o.schedule == schedule.name and o.ends_at > o.starts_at]
    person, source = _who(schedule, at, mine, in_interval)
    limit = at + horizon
    t = at
    while t < limit:
        t = _next_event(schedule, t, mine, in_interval, limit)
        if t >= limit:
            break
        if _who(schedule, t, mine, in_interval)[0] != person:
            return OnCall(schedule.name, at, person, t, source)
    return OnCall(schedule.name, at, person, None, source)
