"""Which maintenance windows cover an incident, and when time-interval mutes end (pure: no store, no I/O).

A window *covers* an incident at ``t`` when it is active (``starts_at <= t < ends_at``) and every one of
the incident's firing alerts is matched by an active window's matchers (Alertmanager matcher syntax,
receiver.rules.matchers: all matchers of a window must hold; an absent label matches as ``""``). An
incident with no firing alert (acknowledged, or every alert resolved) is matched on its identity
labels. One alert outside every window is enough to page: a silence in Alertmanager also hides only
the alerts it matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from receiver.rules.matchers import Matcher, parse_matchers
from receiver.store.maintenance import WindowRow, current

#: Time intervals have minute precision (``times`` are ``HH:MM``): their ends are looked for minute by minute.
MINUTE = 60.0
#: How far ahead the end of a time-interval mute is looked for (seconds); a mute longer than this is
#: looked at again then.
HORIZON = 8 * 86400.0


def parse_window_matchers(texts: Iterable[str]) -> list[Matcher]:
    """Parse a window's matcher strings (each may hold several, comma-separated, with or without ``{}``).

    Raises ``ValueError`` naming the bad matcher; an empty result is an error too (a window must not
    silence everything by accident).
    """
    out: list[Matcher] = []
    for text in texts:
        out += parse_matchers(text)
    if not out:
        raise ValueError("a maintenance window needs at least one matcher (e.g. service=\"risk\")")
    return out


def window_matches(w: WindowRow, labels: Mapping[str, str]) -> bool:
    """Whether every matcher of ``w`` holds for ``labels``."""
    return all(m.matches(labels) for m in parse_window_matchers(w.matchers))


def _label_sets(incident: Any) -> list[Mapping[str, str]]:
    firing = [a.labels for a in incident.alerts if a.status == "firing"]
    return firing or [incident.labels]


def covering(windows: Sequence[WindowRow], incident: Any, now: float) -> list[WindowRow]:
    """The active windows that together cover every firing alert of ``incident`` at ``now`` (the
    windows matching at least one of them), or ``[]`` when any firing alert is outside every window."""
    active = [w for w in windows if w.starts_at <= now < w.ends_at]
    if not active:
        return []
    used: dict[str, WindowRow] = {}
    for labels in _label_sets(incident):
        hits = [w for w in active if window_matches(w, labels)]
        if not hits:
            return []
        used.update((w.id, w) for w in hits)
    return sorted(used.values(), key=lambda w: (w.ends_at, w.id))


def matching(w: WindowRow, incidents: Iterable[Any]) -> list[Any]:
    """The incidents of which at least one alert (or, with none firing, the identity) ``w`` matches."""
    return [i for i in incidents if any(window_matches(w, labels) for labels in _label_sets(i))]


def muting_intervals(names: Iterable[str], in_interval: Callable[[str, float], bool], now: float) -> list[str]:
    """The names among ``names`` whose time interval contains ``now`` (``in_interval(name, epoch)``)."""
    return [n for n in dict.fromkeys(names) if in_interval(n, now)]


def mute_ends(names: Sequence[str], in_interval: Callable[[str, float], bool], now: float) -> float:
    """The first minute boundary after ``now`` at which none of ``names`` contains the time (epoch
    seconds); ``now + HORIZON`` when they all still mute then."""
    t = (now // MINUTE + 1) * MINUTE
    while t < now + HORIZON:
        if not any(in_interval(n, t) for n in names):
            return t
        t += MINUTE
    return now + HORIZON


def window_end(tx: Any, incident: Any, now: float) -> float | None:
    """When the maintenance that covers ``incident`` at ``now`` ends (epoch s), or ``None`` when no active
    window covers it: the ``hold`` of ``receiver.escalation.targets`` (a response target waits for it)."""
    cover = covering(current(tx, now), incident, now)
    return min(w.ends_at for w in cover) if cover else None
