"""``runbookd simulate --at`` with ``calendar: XNYS``: the plan says which calendar decided the severity."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.cli import main
from tests.conftest import TESTDATA

RULES = """\
rules:
  - name: trading-down
    matchers: ['alertname="TradingSystemDown"']
    severity: P1
    severity_during: {market_hours: P0}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "rules.yml").write_text(RULES)
    cfg = tmp_path / "runbookd.yml"
    cfg.write_text("rule_files: [rules.yml]\ncalendar: XNYS\n")
    return cfg


def run(config: Path, at: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["simulate", str(TESTDATA / "trading-system-down-firing.json"), "--config", str(config),
                 "--at", at, "--until", "1m"]) == 0
    return capsys.readouterr().out


def test_simulate_at_an_early_close_shows_the_calendar_decision(config: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """At 12:30 New York on 2026-11-27 the XNYS session (early close 13:00) makes the rule P0."""
    out = run(config, "2026-11-27T12:30:00-05:00", capsys)
    assert "Market calendar: XNYS" in out
    assert "  severity:   P0\n  decided by: market_hours: XNYS calendar: open (session 2026-11-27, " \
           "09:30-13:00 America/New_York, early close)\n" in out


def test_simulate_on_thanksgiving_shows_why_the_market_is_closed(config: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """On Thanksgiving 2026 the rule keeps P1, and the plan says the XNYS holiday decided it."""
    out = run(config, "2026-11-26T12:30:00-05:00", capsys)
    assert "  severity:   P1\n  decided by: market_hours: XNYS calendar: closed (Thanksgiving, holiday)\n" in out
