"""The exchange calendar (``calendar: XNYS``): market phases on real 2026 dates, the built-in
``market_*`` time intervals in ``severity_during`` and ``when:``, and what decided."""

from __future__ import annotations

import pickle
import subprocess
import sys
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from receiver.clock import FakeClock
from receiver.errors import ConfigError
from receiver.playbooks.gates import BrokerReads, check_when
from receiver.rules import check_rule_files
from receiver.rules.calendar import ExchangeCalendar, calendar_market_open, explain_severity
from receiver.rules.safety import Precondition
from receiver.settings import parse_settings
from tests.rules.conftest import WriteRules

XNYS = ExchangeCalendar("XNYS")

RULES = """
rules:
  - name: critical-path-down
    matchers: ['alertname="FxServiceDown"']
    severity: P1
    severity_during: {market_hours: P0, market_extended_hours: P2}
"""


def at(text: str) -> float:
    """An RFC 3339 time as epoch seconds."""
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(("when", "phase", "reason"), [
    ("2026-11-26T11:00:00-05:00", "closed", "XNYS calendar: closed (Thanksgiving, holiday)"),
    ("2026-11-27T12:59:00-05:00", "regular",
     "XNYS calendar: open (session 2026-11-27, 09:30-13:00 America/New_York, early close)"),
    ("2026-11-27T13:00:00-05:00", "post",
     "XNYS calendar: post-market (session 2026-11-27, 09:30-13:00 America/New_York, early close)"),
    ("2026-11-27T17:00:00-05:00", "closed", "XNYS calendar: closed (outside the session)"),
    ("2026-11-28T11:00:00-05:00", "closed", "XNYS calendar: closed (weekend)"),
    ("2026-03-06T09:30:00-05:00", "regular",
     "XNYS calendar: open (session 2026-03-06, 09:30-16:00 America/New_York)"),
    ("2026-03-06T09:29:00-05:00", "pre",
     "XNYS calendar: pre-market (session 2026-03-06, 09:30-16:00 America/New_York)"),
    ("2026-03-09T09:30:00-04:00", "regular",
     "XNYS calendar: open (session 2026-03-09, 09:30-16:00 America/New_York)"),
    ("2026-03-09T16:00:00-04:00", "post",
     "XNYS calendar: post-market (session 2026-03-09, 09:30-16:00 America/New_York)"),
])
def test_xnys_phases_on_2026_dates(when: str, phase: str, reason: str) -> None:
    """Thanksgiving is closed, the day after closes at 13:00, weekends are closed, and the open is
    09:30 New York on both sides of the 2026-03-08 DST change (14:30 UTC, then 13:30 UTC)."""
    status = XNYS.status(at(when))
    assert (status.phase, status.reason) == (phase, reason)


def test_the_open_moves_an_hour_in_utc_across_dst() -> None:
    """13:30 UTC is pre-market on Friday 2026-03-06 (EST) and the open on Monday 2026-03-09 (EDT)."""
    assert XNYS.market_open(at("2026-03-06T13:30:00Z")) is False
    assert XNYS.market_open(at("2026-03-09T13:30:00Z")) is True


@pytest.mark.parametrize(("when", "severity"), [
    ("2026-11-25T10:00:00-05:00", "P0"),  # a normal Wednesday session
    ("2026-11-26T10:00:00-05:00", "P1"),  # Thanksgiving: closed, no extended hours either
    ("2026-11-27T12:59:00-05:00", "P0"),  # early close day, before 13:00
    ("2026-11-27T13:30:00-05:00", "P2"),  # early close day, after 13:00: post-market
    ("2026-11-28T10:00:00-05:00", "P1"),  # Saturday
    ("2026-03-06T09:29:00-05:00", "P2"),  # pre-market
    ("2026-03-09T09:30:00-04:00", "P0"),  # after the DST change
])
def test_holidays_and_early_closes_change_severity_during(write_rules: WriteRules, when: str,
                                                         severity: str) -> None:
    """``severity_during: {market_hours: P0, market_extended_hours: P2}`` follows the XNYS calendar."""
    path = write_rules("r.yml", RULES)
    report = check_rule_files([str(path)], str(path.parent), calendar=XNYS)
    assert report.ruleset is not None, report.errors
    rule = report.ruleset.rules[0]
    assert report.ruleset.severity_at(rule, at(when)) == severity


def test_explain_names_the_calendar_that_decided(write_rules: WriteRules) -> None:
    """The reason of a calendar decision names the exchange and the session; a closed day says why."""
    path = write_rules("r.yml", RULES)
    rs = check_rule_files([str(path)], str(path.parent), calendar=XNYS).ruleset
    assert rs is not None
    assert explain_severity(rs, rs.rules[0], at("2026-11-27T12:00:00-05:00")) == (
        "P0", "market_hours: XNYS calendar: open (session 2026-11-27, 09:30-13:00 America/New_York, early close)")
    sev, why = explain_severity(rs, rs.rules[0], at("2026-11-26T12:00:00-05:00"))
    assert sev == "P1" and why is not None and "Thanksgiving" in why


def test_market_hours_without_a_calendar_is_an_error_with_a_hint(write_rules: WriteRules) -> None:
    """Without ``calendar:`` the built-in names are unknown, and the message says what to set."""
    path = write_rules("r.yml", RULES)
    report = check_rule_files([str(path)], str(path.parent))
    assert [e.message for e in report.errors] == [
        "severity_during.market_hours: unknown time interval 'market_hours' (built-in: set calendar: in "
        "runbookd.yml, e.g. calendar: XNYS)",
        "severity_during.market_extended_hours: unknown time interval 'market_extended_hours' (built-in: set "
        "calendar: in runbookd.yml, e.g. calendar: XNYS)",
    ]


def test_a_rule_file_cannot_redefine_a_builtin_interval(write_rules: WriteRules) -> None:
    """A ``time_intervals`` entry named ``market_hours`` is refused: the calendar owns that name."""
    path = write_rules("r.yml", """
        time_intervals:
          - name: market_hours
            time_intervals: [{weekdays: [monday]}]
    """)
    report = check_rule_files([str(path)], str(path.parent), calendar=XNYS)
    assert [str(e) for e in report.errors] == [
        f"{path}:2: name: 'market_hours' is a built-in time interval of the exchange calendar"]


def test_calendar_setting_short_and_long_forms() -> None:
    """``calendar: XNYS`` and ``{exchange: XNYS, post_market: 2h}`` load; empty means no calendar."""
    assert parse_settings({"calendar": "XNYS"}).calendar.exchange == "XNYS"  # type: ignore[union-attr]
    long = parse_settings({"calendar": {"exchange": "XLON", "post_market": "2h"}}).calendar
    assert long is not None and (long.exchange, long.post_market) == ("XLON", 7200.0)
    assert parse_settings({"calendar": ""}).calendar is None


def test_unknown_exchange_is_a_config_error() -> None:
    """A name exchange-calendars does not know fails loading with a clear message."""
    with pytest.raises(ConfigError, match=r"calendar.exchange: Value error, unknown exchange 'XNOPE'"):
        parse_settings({"calendar": "XNOPE"})


async def test_when_market_open_reads_the_calendar_not_the_broker() -> None:
    """``when: {market_open: true}`` with a calendar is decided from it at the clock's time, and the
    timeline reason names the calendar."""
    clock = FakeClock(at("2026-11-26T11:00:00-05:00"))
    reads = BrokerReads(market_open=partial(calendar_market_open, XNYS, clock), market_source="XNYS calendar")
    when = Precondition(market_open=True, on_error="skip")
    assert await check_when(when, reads, clock.now()) == (False, "market is closed (XNYS calendar)")
    clock.set(at("2026-11-27T10:00:00-05:00"))
    assert await check_when(when, reads, clock.now()) == (True, "preconditions hold")


def test_rule_set_with_a_calendar_pickles(write_rules: WriteRules) -> None:
    """The SQLite ingest process receives the rule set pickled: the calendar intervals survive it."""
    path = write_rules("r.yml", RULES)
    rs = check_rule_files([str(path)], str(path.parent), calendar=XNYS).ruleset
    assert rs is not None
    copy = pickle.loads(pickle.dumps(rs))
    assert copy.calendar.exchange == "XNYS"
    assert copy.severity_at(copy.rules[0], at("2026-11-27T12:00:00-05:00")) == "P0"


def test_no_calendar_does_not_import_exchange_calendars(tmp_path: Path) -> None:
    """``runbookd check`` without ``calendar:`` never imports exchange-calendars (slow to load)."""
    code = ("import sys; from receiver.cli import main; main(['check', '--config', sys.argv[1]]); "
            "print('exchange_calendars' in sys.modules)")
    cfg = tmp_path / "runbookd.yml"
    root = Path(__file__).resolve().parents[2]
    cfg.write_text(f"rule_files: ['{root}/rules/*.yml']\n")
    out = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
