"""The exchange calendar: ``calendar: XNYS`` in runbookd.yml, read with the ``exchange-calendars`` package.

It gives rules built-in time intervals, usable wherever a ``time_intervals`` name is (``severity_during``,
``when: {time_interval: …}``), and answers ``when: {market_open: …}`` without a broker round trip:

- ``market_hours``: the regular session, open (inclusive) to close (exclusive), with the exchange's
  holidays, early closes (XNYS: 13:00 New York on 2026-11-27) and lunch breaks (XHKG);
- ``market_pre_hours``: ``pre_market`` seconds before the open (XNYS default 5h30m: 04:00-09:30);
- ``market_post_hours``: ``post_market`` seconds after the close (default 4h: 16:00-20:00, and
  13:00-17:00 after an early close);
- ``market_extended_hours``: pre-market, the session and post-market together;
- ``market_closed``: every instant outside ``market_hours`` (weekends, holidays, nights, breaks).

The package (pandas underneath) is imported on first use only, so ``runbookd check`` and ``serve`` pay
nothing when no calendar is configured. Pure computation: no I/O, no network.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MARKET_HOURS = "market_hours"
MARKET_PRE = "market_pre_hours"
MARKET_POST = "market_post_hours"
MARKET_EXTENDED = "market_extended_hours"
MARKET_CLOSED = "market_closed"
#: The built-in interval names, and the phases (of ``MarketStatus.phase``) each one contains.
BUILTIN: dict[str, frozenset[str]] = {
    MARKET_HOURS: frozenset({"regular"}),
    MARKET_PRE: frozenset({"pre"}),
    MARKET_POST: frozenset({"post"}),
    MARKET_EXTENDED: frozenset({"pre", "regular", "post", "break"}),
    MARKET_CLOSED: frozenset({"pre", "post", "break", "closed"}),
}
DEFAULT_PRE_MARKET = 5.5 * 3600
DEFAULT_POST_MARKET = 4 * 3600


def calendar_names() -> list[str]:
    """Every exchange name (and alias) ``exchange-calendars`` knows, e.g. ``XNYS``, ``NYSE``, ``XLON``."""
    import exchange_calendars

    return list(exchange_calendars.get_calendar_names(include_aliases=True))


@dataclass(frozen=True)
class MarketStatus:
    """What the calendar says about one instant.

    ``phase``: ``regular`` (the session), ``pre``, ``post``, ``break`` (a lunch break) or ``closed``;
    ``session``: the session's date (ISO) when the instant belongs to one; ``reason``: one line for
    people, e.g. ``XNYS calendar: closed (Thanksgiving)``.
    """

    exchange: str
    phase: str
    session: str | None
    reason: str

    @property
    def open(self) -> bool:
        """Whether the regular session is trading (``market_hours``)."""
        return self.phase == "regular"


class ExchangeCalendar:
    """One exchange's calendar (``exchange``: a name ``exchange-calendars`` knows); pickled as its arguments.

    ``pre_market`` / ``post_market``: seconds of extended hours before the open and after the close.
    Calendars are built per UTC year on first use (a year's table takes ~0.1 s) and kept.
    """

    def __init__(self, exchange: str, pre_market: float = DEFAULT_PRE_MARKET,
                 post_market: float = DEFAULT_POST_MARKET) -> None:
        self.exchange = exchange
        self.pre_market = float(pre_market)
        self.post_market = float(post_market)
        self._years: dict[int, Any] = {}

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Rebuilt warm where it is unpickled (the SQLite ingest process), not on its first incident.
        return (_restored, (self.exchange, self.pre_market, self.post_market))

    def __repr__(self) -> str:
        return f"ExchangeCalendar({self.exchange!r})"

    def _cal(self, year: int) -> Any:
        cal = self._years.get(year)
        if cal is None:
            import exchange_calendars

            cal = exchange_calendars.get_calendar(self.exchange, start=f"{year - 1}-12-01", end=f"{year + 1}-01-31")
            self._years[year] = cal
        return cal

    def status(self, epoch: float) -> MarketStatus:
        """The market's phase at ``epoch`` (UTC seconds). Raises ``ValueError`` (from the package) for a
        time outside what it covers."""
        with _quiet():
            return self._status(epoch)

    def _status(self, epoch: float) -> MarketStatus:
        cal = self._cal(datetime.fromtimestamp(epoch, ZoneInfo("UTC")).year)
        tz = ZoneInfo(str(cal.tz))
        local = datetime.fromtimestamp(epoch, tz)
        # A session may start the evening before its date (futures): look at the neighbours too.
        for day in (local.date(), local.date() + timedelta(days=1), local.date() - timedelta(days=1)):
            label = day.isoformat()
            if not cal.is_session(label):
                continue
            open_, close = cal.session_open(label).timestamp(), cal.session_close(label).timestamp()
            phase = _phase(cal, label, epoch, open_, close, self.pre_market, self.post_market)
            if phase is not None:
                hours = f"{_hm(open_, tz)}-{_hm(close, tz)} {tz.key}"
                early = ", early close" if _early(cal, label) else ""
                return MarketStatus(self.exchange, phase, label,
                                    f"{self.exchange} calendar: {_PHASE_TEXT[phase]} (session {label}, "
                                    f"{hours}{early})")
        return MarketStatus(self.exchange, "closed", None,
                            f"{self.exchange} calendar: closed ({_why_closed(cal, local.date())})")

    def warm(self, epoch: float) -> ExchangeCalendar:
        """Import the package and build the year of ``epoch`` now (~0.5 s once), so that the first
        incident opened under a market interval does not pay it inside a store transaction."""
        with _quiet():
            self._cal(datetime.fromtimestamp(epoch, ZoneInfo("UTC")).year)
        return self

    def market_open(self, epoch: float) -> bool:
        """Whether the regular session trades at ``epoch`` (UTC seconds); ``ValueError`` as ``status``."""
        return self.status(epoch).open

    def intervals(self) -> dict[str, MarketInterval]:
        """The built-in time intervals (``BUILTIN``) of this calendar, by name."""
        return {name: MarketInterval(name, self) for name in BUILTIN}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """exchange-calendars still uses pandas APIs that pandas 3 deprecates: not ours to act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _phase(cal: Any, label: str, epoch: float, open_: float, close: float, pre: float, post: float) -> str | None:
    if open_ <= epoch < close:
        b0, b1 = cal.session_break_start(label), cal.session_break_end(label)
        if b0 is not None and b0 == b0 and b0.timestamp() <= epoch < b1.timestamp():  # NaT != NaT
            return "break"
        return "regular"
    if open_ - pre <= epoch < open_:
        return "pre"
    if close <= epoch < close + post:
        return "post"
    return None


_PHASE_TEXT = {"regular": "open", "pre": "pre-market", "post": "post-market", "break": "closed for the break"}


def _hm(epoch: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, tz).strftime("%H:%M")


def _early(cal: Any, label: str) -> bool:
    import pandas

    return pandas.Timestamp(label) in cal.early_closes


def _why_closed(cal: Any, day: date) -> str:
    """``Thanksgiving``, ``weekend``, ``holiday`` or ``outside the session``, for ``MarketStatus.reason``."""
    import pandas

    ts = pandas.Timestamp(day.isoformat())
    if cal.is_session(day.isoformat()):
        return "outside the session"
    if cal.weekmask[day.weekday()] == "0":
        return "weekend"
    names = cal.regular_holidays.holidays(ts, ts, return_name=True) if cal.regular_holidays is not None else None
    if names is not None and len(names):
        return f"{names.iloc[0]}, holiday"
    return "holiday"


@dataclass(frozen=True)
class MarketInterval:
    """A built-in time interval (``market_hours`` …) of an exchange calendar; the rule set's
    ``time_intervals`` values share its ``contains(epoch) -> bool``."""

    name: str
    calendar: ExchangeCalendar

    def contains(self, epoch: float) -> bool:
        """Whether the market is in one of this interval's phases at ``epoch`` (UTC seconds).

        Never raises: a time the calendar does not cover counts as outside (a page must not be lost
        to a calendar lookup), and ``describe`` says why.
        """
        try:
            return self.calendar.status(epoch).phase in BUILTIN[self.name]
        except Exception:  # noqa: BLE001 — see the docstring: the rule's own severity applies
            return False

    def describe(self, epoch: float) -> str:
        """The calendar's reason at ``epoch`` (``XNYS calendar: open (session …)``), for simulate and the timeline."""
        try:
            return self.calendar.status(epoch).reason
        except Exception as e:  # noqa: BLE001
            return f"{self.calendar.exchange} calendar: no answer ({e})"


def _restored(exchange: str, pre_market: float, post_market: float) -> ExchangeCalendar:
    return ExchangeCalendar(exchange, pre_market, post_market).warm(time.time())


def from_config(config: Any, *, warm_at: float | None = None) -> ExchangeCalendar | None:
    """The calendar of runbookd.yml's ``calendar`` (a ``CalendarConfig`` or ``None``), built for the year
    of ``warm_at`` (epoch seconds) at once when given."""
    if config is None:
        return None
    cal = ExchangeCalendar(config.exchange, config.pre_market, config.post_market)
    return cal.warm(warm_at) if warm_at is not None else cal


def explain_severity(rules: Any, rule: Any, epoch: float) -> tuple[str, str | None]:
    """``rules.severity_at(rule, epoch)`` and what decided it: ``(severity, reason)``.

    ``reason`` is ``None`` for a rule without ``severity_during``; else e.g. ``market_hours: XNYS
    calendar: open (session 2026-11-27, 09:30-13:00 America/New_York, early close)``, ``in time
    interval 'x'`` for a rule file's interval, or why none applied (the calendar's answer, if any).
    """
    severity = rules.severity_at(rule, epoch)
    if not rule.severity_during:
        return severity, None
    for name, sev in rule.severity_during:
        ti = rules.time_intervals.get(name)
        if ti is not None and sev == severity and ti.contains(epoch):
            return severity, f"{name}: {_why(ti, name, epoch)}"
    notes = [f"{name}: {ti.describe(epoch)}" for name, _ in rule.severity_during
             if isinstance(ti := rules.time_intervals.get(name), MarketInterval)]
    return severity, "; ".join(notes) or "outside every severity_during interval"


def _why(interval: Any, name: str, epoch: float) -> str:
    return interval.describe(epoch) if isinstance(interval, MarketInterval) else f"in time interval '{name}'"


async def calendar_market_open(calendar: ExchangeCalendar, clock: Any) -> bool:
    """``when: market_open`` from the calendar at ``clock.now()`` (the ``BrokerReads.market_open`` shape).

    Raises ``ValueError`` for a time the calendar does not cover (the step's ``on_error`` decides).
    """
    return calendar.market_open(clock.now())
