"""One layer's shifts: which member holds the shift at an instant, and when that shift began and ends.

``daily`` and ``weekly`` shifts are calendar shifts: shift ``k`` starts at ``handoff`` local time on
``start + k`` days (or weeks) in the layer's zone, so a handoff stays at the same wall-clock time across
DST and a weekly shift that spans a change lasts 167 or 169 hours. A handoff time that does not exist
on a spring-forward day is read with the offset before the change (``zoneinfo``'s ``fold=0``: 02:30
becomes 03:30); one that exists twice on a fall-back day is its first occurrence. A custom shift is
exact elapsed seconds from the first handoff.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from receiver.rules.schedules import Layer


@dataclass(frozen=True)
class Shift:
    """One shift of a layer: ``member`` from ``start`` to ``end`` (epoch seconds, UTC; end exclusive)."""

    member: str
    start: float
    end: float


def _handoff(layer: Layer, day: dt.date) -> float:
    """The epoch of the handoff on local ``day`` in the layer's zone."""
    hh, mm = (int(x) for x in layer.handoff.split(":"))
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=ZoneInfo(layer.timezone)).timestamp()


def boundary(layer: Layer, k: int) -> float:
    """The start of shift ``k`` (shift 0 starts at the first handoff, on ``start``)."""
    if isinstance(layer.shift, float):
        return _handoff(layer, layer.start) + k * layer.shift
    days = 1 if layer.shift == "daily" else 7
    return _handoff(layer, layer.start + dt.timedelta(days=k * days))


def shift_at(layer: Layer, epoch: float) -> Shift | None:
    """The shift of ``layer`` that contains ``epoch`` (UTC seconds), or ``None`` before the first handoff.

    Ignores ``time_interval`` (``receiver.oncall.resolve`` applies it).
    """
    first = boundary(layer, 0)
    if epoch < first:
        return None
    if isinstance(layer.shift, float):
        k = int((epoch - first) // layer.shift)
    else:
        local = dt.datetime.fromtimestamp(epoch, ZoneInfo(layer.timezone)).date()
        k = (local - layer.start).days // (1 if layer.shift == "daily" else 7)
    # The estimate is off by at most one near a handoff; settle it on the real boundaries.
    while k > 0 and epoch < boundary(layer, k):
        k -= 1
    while epoch >= boundary(layer, k + 1):
        k += 1
    return Shift(layer.members[k % len(layer.members)], boundary(layer, k), boundary(layer, k + 1))
