"""Cross-file checks of merged rule files: shadowed-rule and missing-policy warnings, and what the
compiled rules take from the files (continue, group_by, default severity)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from receiver.rules import check_rule_files, load_rule_files

WriteRules = Callable[[str, str], Path]  # the write_rules fixture of conftest.py


SHADOWED = """
rules:
  - name: audit
    matchers: ['team="trading"']
    severity: P3
    continue: true
  - name: trading
    matchers: ['team="trading"']
    severity: P1
  - name: trading-down
    matchers: ['team="trading"', 'alertname="TradingSystemDown"']
    severity: P0
  - name: everything
    severity: P2
  - name: after-everything
    matchers: ['alertname="Late"']
    severity: P2
escalation_policies:
  P0: {}
  P1: {}
  P2: {}
  P3: {}
"""


def test_a_rule_shadowed_by_an_earlier_one_is_a_warning(write_rules: WriteRules, tmp_path: Path) -> None:
    """A rule whose matchers include all of an earlier final rule's can never match: warn, still load."""
    write_rules("r.yml", SHADOWED)
    report = check_rule_files(["r.yml"], str(tmp_path))
    assert report.ruleset is not None and report.errors == []
    assert [str(w) for w in report.warnings] == [
        "r.yml:9: rule 'trading-down': unreachable: shadowed by rule 'trading' (r.yml:6)",
        "r.yml:14: rule 'after-everything': unreachable: shadowed by rule 'everything' (r.yml:12)",
    ]


def test_a_severity_without_policy_is_a_warning(write_rules: WriteRules, tmp_path: Path) -> None:
    """A severity used by a rule, or the default severity, without an escalation policy is a warning."""
    write_rules("r.yml", """
        rules:
          - {name: a, matchers: [job=a], severity: P1}
          - {name: b, matchers: [job=b], severity: P0}
        escalation_policies:
          P1: {}
    """)
    report = check_rule_files(["r.yml"], str(tmp_path))
    assert report.ruleset is not None
    assert [str(w) for w in report.warnings] == [
        "r.yml: rule 'catch-all': severity P3 (default_severity) has no escalation policy: unmatched alerts "
        "notify nobody",
        "r.yml:3: rule 'b': severity P0 has no escalation policy: its incidents notify nobody",
    ]


def test_default_severity_reaches_the_catch_all(write_rules: WriteRules, tmp_path: Path) -> None:
    """default_severity is the catch-all's severity; anything but P0-P3 is refused."""
    write_rules("r.yml", "rules: []\n")
    rs = load_rule_files(["r.yml"], str(tmp_path), default_severity="P1")
    assert rs.match({"alertname": "X"})[0].severity == "P1"
    with pytest.raises(ValueError, match="default_severity"):
        check_rule_files(["r.yml"], str(tmp_path), default_severity="P9")


def test_continue_and_group_by_come_from_the_file(write_rules: WriteRules, tmp_path: Path) -> None:
    """continue (a Python keyword) and group_by are read into the compiled rule."""
    write_rules("r.yml", """
        rules:
          - name: audit
            continue: true
            group_by: [team]
            severity: P3
          - name: all
            severity: P2
    """)
    rs = load_rule_files(["r.yml"], str(tmp_path))
    audit, final = rs.match({"team": "t", "alertname": "A"})
    assert (audit.continue_, audit.group_by, final.name) == (True, ("team",), "all")
    assert audit.identity_key({"team": "t", "alertname": "A"}) == 'audit|team="t"'


def test_an_explicitly_empty_time_range_field_is_warned_about(tmp_path: Path) -> None:
    """`weekdays: []` never matches (as in Alertmanager): check warns at its line and says how to mean any."""
    (tmp_path / "ti.yml").write_text(
        "time_intervals:\n"
        "  - name: weekend\n"
        "    time_intervals:\n"
        "      - times: [{start_time: '00:00', end_time: '24:00'}]\n"
        "        weekdays: []\n"
    )
    report = check_rule_files(["ti.yml"], str(tmp_path))
    assert report.errors == []
    assert [str(w) for w in report.warnings if "never matches" in str(w)] == [
        "ti.yml:5: rule 'weekend': time_intervals[0].weekdays: 'weekdays: []' never matches (as in "
        "Alertmanager), so this range contains no time; omit 'weekdays' to mean any"
    ]
