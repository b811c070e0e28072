"""Prometheus durations (``30s``, ``5m``, ``1h30m``, ``1d``) parsed to seconds.

Follows Prometheus' ``model.ParseDuration``: units ``ms s m h d w y``, largest first, each at most
once, integers only; ``0`` alone is zero.
"""

from __future__ import annotations

import re

_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_duration(text: str | int | float) -> float:
    """Return the duration ``text`` in seconds.

    Accepts a Prometheus duration string or a plain number of seconds. Raises ``ValueError`` naming
    the bad text when it is neither.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"negative duration: {text!r}")
        return float(text)
    s = str(text).strip()
    if s == "0":
        return 0.0
    m = _RE.match(s)
    if not s or m is None or not any(m.groups()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    total = 0.0
    for value, unit in zip(m.groups(), ("y", "w", "d", "h", "m", "s", "ms"), strict=True):
        if value:
            total += int(value) * _UNITS[unit]
    return total


def format_duration(seconds: float) -> str:
    """Format seconds as a Prometheus duration (``90`` → ``1m30s``; ``0`` → ``0s``)."""
    s = int(round(seconds))
    if s == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out.append(f"{s // size}{unit}")
            s %= size
    return "".join(out)


def humanize_duration(seconds: float) -> str:
    """A duration in seconds as ``1h 2m 3s`` for people (largest units first, zero units omitted, ``0s``)."""
    total = max(int(round(seconds)), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return " ".join(parts) or "0s"
