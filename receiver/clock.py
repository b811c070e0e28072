"""Time as a dependency: every timer in runbookd reads a ``Clock`` so tests can move time by hand."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of the current time, in seconds since the Unix epoch (UTC)."""

    def now(self) -> float:
        """Return the current time as epoch seconds (UTC)."""
        ...


class SystemClock:
    """The wall clock (``time.time()``)."""

    def now(self) -> float:
        """Return ``time.time()``: epoch seconds, UTC."""
        return time.time()


class FakeClock:
    """A clock that only moves when told to; for tests and ``runbookd simulate``."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        """Return the fake current time (epoch seconds)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (must be >= 0)."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds

    def set(self, epoch: float) -> None:
        """Jump to ``epoch`` seconds."""
        self._now = float(epoch)


def iso(epoch: float | None) -> str | None:
    """Format epoch seconds as RFC 3339 UTC with millisecond precision, or ``None``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_utc(epoch: float | None) -> str:
    """Epoch seconds as ``2026-01-05 14:30:00 UTC`` (for people); ``""`` for ``None``."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_rfc3339(text: str) -> float:
    """An RFC 3339 time with a zone (``2026-12-05T22:00:00Z``, ``…+01:00``) as epoch seconds (UTC).

    Raises ``ValueError`` for text that is not such a time or has no zone. The one parser of times
    that people type (the CLI's ``--at``, ``--since``; the API's and Slack's window and override times).
    """
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected an RFC 3339 time such as 2026-12-05T22:00:00Z, got {text!r}") from None
    if when.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone (add Z or +hh:mm)")
    return when.timestamp()
