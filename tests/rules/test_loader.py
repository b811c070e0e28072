"""Loading rule files: the good set, each bad file's exact message (file:line: rule 'x': …), warnings,
globbing and the version."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import get_args as _get_args

import pytest

from receiver.errors import RuleFileError
from receiver.rules import CATCH_ALL, RuleSetError, check_rule_files, load_rule_files
from receiver.rules.model import Step as _Step

#: Every action name, in the order of the step union (the loader lists them in that order).
ACTIONS = [_get_args(c.model_fields["action"].annotation)[0] for c in _get_args(_get_args(_Step)[0])]

ROUTING_KEYS = {"default"}
WriteRules = Callable[[str, str], Path]  # the write_rules fixture of conftest.py

# One bad file per kind of failure, and every error it must give, exactly.
BAD = {
    "yaml_syntax.yml": (
        "bad/yaml_syntax.yml:4: invalid YAML: while parsing a flow sequence (from line 3): expected ',' or "
        "']', but got ':'"
    ),
    "multiple_documents.yml": (
        "bad/multiple_documents.yml:2: invalid YAML: a rule file holds one document, found a second one"
    ),
    "top_level_list.yml": "bad/top_level_list.yml:1: expected a mapping at the top level, got list",
    "unknown_key.yml": "bad/unknown_key.yml:5: rule 'trading-down': unknown key 'foo'",
    "bad_severity.yml": (
        "bad/bad_severity.yml:5: rule 'trading-down': severity: must be one of P0, P1, P2, P3"
    ),
    "missing_severity.yml": (
        "bad/missing_severity.yml:4: rule 'trading-down': missing required key 'severity'"
    ),
    "missing_name.yml": "bad/missing_name.yml:2: rules[0]: missing required key 'name'",
    "bad_rule_name.yml": (
        "bad/bad_rule_name.yml:2: rule 'trading down': name: invalid name 'trading down': use only letters, "
        "digits, '_', '.', ':' and '-'"
    ),
    "wrong_type.yml": "bad/wrong_type.yml:3: rule 'trading-down': matchers: expected a list, got string",
    "duplicate_key.yml": (
        "bad/duplicate_key.yml:4: rule 'trading-down': duplicate key 'severity' (first at line 3)"
    ),
    "bad_matcher.yml": (
        "bad/bad_matcher.yml:9: rule 'risk-down': matchers[1]: invalid matcher 'alertname==\"X\"': "
        "unescaped double quote in an unquoted value"
    ),
    "bad_regex.yml": (
        "bad/bad_regex.yml:3: rule 'risk-down': matchers[0]: invalid matcher "
        "'service=~\"risk|(execution\"': bad regex \"risk|(execution\": missing ): ^(?:risk|(execution)$"
    ),
    "bad_regex_go.yml": (
        "bad/bad_regex_go.yml:6: rule 'risk-down': matchers[1]: invalid matcher 'instance=~\"\\\\Cx\"': "
        "bad regex \"\\\\Cx\": invalid escape sequence: `\\C` (Go has no any-byte escape)"
    ),
    "bad_time_interval_local.yml": (
        "bad/bad_time_interval_local.yml:4: time_intervals[0].time_intervals[0].location: location 'Local' "
        "(the zone of the machine Alertmanager runs on) is refused: a rule would then mean different times "
        "on different hosts and in CI; name the zone, e.g. America/New_York"
    ),
    "empty_matcher.yml": "bad/empty_matcher.yml:3: rule 'risk-down': matchers[0]: empty matcher",
    "bad_group_by.yml": (
        "bad/bad_group_by.yml:7: rule 'risk-down': group_by[1]: invalid label name 'job-name': must match "
        "[a-zA-Z_][a-zA-Z0-9_]*"
    ),
    "duplicate_rule.yml": (
        "bad/duplicate_rule.yml:5: rule 'risk-down': duplicate rule name (first defined at "
        "bad/duplicate_rule.yml:2)"
    ),
    "reserved_rule_name.yml": (
        "bad/reserved_rule_name.yml:2: rule 'catch-all': name: 'catch-all' is reserved for the built-in "
        "rule of unmatched alerts"
    ),
    "unknown_playbook.yml": (
        "bad/unknown_playbook.yml:5: rule 'trading-down': playbook: unknown playbook 'halt-tradng'"
    ),
    "duplicate_playbook.yml": (
        "bad/duplicate_playbook.yml:5: rule 'halt-trading': duplicate playbook name (first defined at "
        "bad/duplicate_playbook.yml:2)"
    ),
    "bad_playbook_name.yml": (
        "bad/bad_playbook_name.yml:2: playbooks: invalid name 'halt trading': use only letters, digits, "
        "'_', '.', ':' and '-'"
    ),
    "empty_playbook.yml": "bad/empty_playbook.yml:3: rule 'halt-trading': steps: must not be empty",
    "unknown_action.yml": (
        "bad/unknown_action.yml:5: rule 'halt-trading': steps[0].action: unknown action 'shell' (expected "
        f"one of {', '.join(ACTIONS)})"
    ),
    "missing_step_key.yml": (
        "bad/missing_step_key.yml:4: rule 'halt-trading': steps[0]: missing required key 'url'"
    ),
    "bad_duration.yml": (
        "bad/bad_duration.yml:6: rule 'halt-trading': steps[0].timeout: not a duration: '5x' (use e.g. 30s, "
        "5m, 1h30m)"
    ),
    "duplicate_step.yml": (
        "bad/duplicate_step.yml:9: rule 'halt-trading': steps[2].name: duplicate step name 'stop' (first "
        "defined at bad/duplicate_step.yml:4)"
    ),
    "bad_template.yml": (
        "bad/bad_template.yml:6: rule 'halt-trading': steps[0].url: template syntax error in step "
        "'stop-trading': unexpected '}'"
    ),
    "bad_template_json.yml": (
        "bad/bad_template_json.yml:13: rule 'halt-trading': steps[0].json.context[1]: template syntax error "
        "in step 'stop-trading': Unexpected end of template. Jinja was looking for the following tags: "
        "'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'."
    ),
    "unknown_filter.yml": (
        "bad/unknown_filter.yml:6: rule 'notify': steps[0].message: template syntax error in step 'note': "
        "No filter named 'shout'."
    ),
    "receiver_no_channel.yml": (
        "bad/receiver_no_channel.yml:4: rule 'nowhere': must have exactly one of slack, pagerduty, email, "
        "sms, voice (has none)"
    ),
    "receiver_two_channels.yml": (
        "bad/receiver_two_channels.yml:2: rule 'slack-or-mail': must have exactly one of slack, pagerduty, "
        "email, sms, voice (has slack, email)"
    ),
    "empty_channel.yml": "bad/empty_channel.yml:3: rule 'slack-critical': slack.channel: must not be empty",
    "unknown_routing_key.yml": (
        "bad/unknown_routing_key.yml:4: rule 'pd-primary': pagerduty.routing_key: unknown routing key "
        "'primary' (configured: default)"
    ),
    "duplicate_receiver.yml": (
        "bad/duplicate_receiver.yml:4: rule 'slack-critical': duplicate receiver name (first defined at "
        "bad/duplicate_receiver.yml:2)"
    ),
    "unknown_mute_interval.yml": (
        "bad/unknown_mute_interval.yml:4: rule 'ops': mute_time_intervals: unknown time interval 'lunch'\n"
        "bad/unknown_mute_interval.yml:9: rule 'P1': steps[0].mute_time_intervals: unknown time interval 'weekend'"
    ),
    "unknown_receiver.yml": (
        "bad/unknown_receiver.yml:8: rule 'P0': steps[0].notify[1]: unknown receiver 'pd-primary'\n"
        "bad/unknown_receiver.yml:11: rule 'P0': updates.notify[0]: unknown receiver 'slack-critcal'"
    ),
    "duplicate_policy.yml": (
        "bad/duplicate_policy.yml:7: rule 'P0': duplicate escalation policy for P0 (first defined at "
        "bad/duplicate_policy.yml:5)"
    ),
    "bad_policy_severity.yml": (
        "bad/bad_policy_severity.yml:2: escalation_policies: 'P5': must be one of P0, P1, P2, P3"
    ),
}


def _errors(pattern: str, base_dir: str) -> str:
    report = check_rule_files([pattern], base_dir, routing_keys=ROUTING_KEYS)
    assert report.ruleset is None
    return "\n".join(str(e) for e in report.errors)


@pytest.mark.parametrize(("name", "expected"), BAD.items(), ids=list(BAD))
def test_each_bad_file_gives_its_exact_message(rules_dir: str, name: str, expected: str) -> None:
    """Every bad rule file fails with file:line, the rule it concerns and what is wrong."""
    assert _errors(f"bad/{name}", rules_dir) == expected


def test_every_bad_file_is_in_the_table(rules_dir: str) -> None:
    """No file in bad/ is left untested."""
    on_disk = {p.name for p in Path(rules_dir, "bad").glob("*.yml")}
    assert on_disk == set(BAD)


def test_duplicates_across_files_name_both_places(rules_dir: str) -> None:
    """Names are unique across files: the later file's item is the error, pointing at the first."""
    first = "(first defined at bad/across/a.yml"
    assert _errors("bad/across/*.yml", rules_dir).splitlines() == [
        f"bad/across/b.yml:3: rule 'halt-trading': duplicate playbook name {first}:6)",
        f"bad/across/b.yml:6: rule 'slack-critical': duplicate receiver name {first}:9)",
        f"bad/across/b.yml:9: rule 'P0': duplicate escalation policy for P0 {first}:12)",
        f"bad/across/b.yml:12: rule 'trading-down': duplicate rule name {first}:2)",
    ]


def test_errors_are_rule_file_errors_with_fields(rules_dir: str) -> None:
    """Each error carries file, line, rule and message separately."""
    [err] = check_rule_files(["bad/bad_matcher.yml"], rules_dir).errors
    assert isinstance(err, RuleFileError)
    assert (err.file, err.line, err.rule) == ("bad/bad_matcher.yml", 9, "risk-down")
    assert err.message.startswith("matchers[1]: invalid matcher 'alertname==\"X\"': ")


def test_the_good_set_loads_without_errors_or_warnings(rules_dir: str) -> None:
    """The good rule files load in order, and route alerts as written."""
    report = check_rule_files(["good/*.yml"], rules_dir, routing_keys=ROUTING_KEYS)
    assert (report.errors, report.warnings) == ([], [])
    rs = report.ruleset
    assert rs is not None
    assert rs.files == ("good/10-trading.yml", "good/20-escalation.yml")
    assert [r.name for r in rs.rules] == ["audit-all", "trading-down", "risk-or-execution", "noisy-disk"]
    assert [str(r.source) for r in rs.rules] == [f"good/10-trading.yml:{n}" for n in (3, 8, 14, 19)]
    assert set(rs.playbooks) == {"halt-trading", "notify-desk"}
    assert set(rs.receivers) == {
        "slack-critical", "slack-alerts", "slack-monitoring", "pd-primary", "mail-desk"}
    assert set(rs.escalation_policies) == {"P0", "P1", "P2", "P3"}
    assert re.fullmatch(r"[0-9a-f]{12}", rs.version)
    assert [r.name for r in rs.match({"alertname": "TradingSystemDown", "team": "trading"})] == [
        "audit-all", "trading-down"]
    assert [r.name for r in rs.match({"alertname": "X", "service": "risk"})] == ["risk-or-execution"]
    assert [r.name for r in rs.match({"alertname": "X", "service": "risk", "env": "staging"})] == [CATCH_ALL]
    assert [str(m) for m in rs.rules[2].matchers] == ['service=~"risk|execution"', 'env!="staging"']


def test_load_rule_files_raises_with_every_error(rules_dir: str) -> None:
    """load_rule_files raises RuleSetError listing all errors, one per line."""
    with pytest.raises(RuleSetError) as err:
        load_rule_files(["bad/unknown_receiver.yml"], rules_dir)
    assert len(err.value.errors) == 2
    assert str(err.value) == BAD["unknown_receiver.yml"]


def test_routing_keys_are_only_checked_when_given(rules_dir: str) -> None:
    """Without routing_keys (no deployment config at hand) any routing key name is accepted."""
    assert check_rule_files(["bad/unknown_routing_key.yml"], rules_dir).errors == []


def test_a_pattern_matching_nothing_is_an_error(rules_dir: str) -> None:
    """Each pattern must match at least one file."""
    assert _errors("nothing/*.yml", rules_dir) == "rule_files: no file matches pattern 'nothing/*.yml'"


def test_an_empty_file_is_fine(write_rules: WriteRules) -> None:
    """An empty rule file (or one of comments only) adds nothing and is not an error."""
    path = write_rules("empty.yml", "# nothing yet\n")
    rs = load_rule_files([str(path)], "/unused")
    assert rs.rules == () and rs.files == (str(path),)


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    """Rule files are read as UTF-8."""
    (tmp_path / "latin1.yml").write_bytes(b"# caf\xe9\nrules: []\n")
    assert _errors("latin1.yml", str(tmp_path)) == "latin1.yml: not valid UTF-8 (byte 5)"


def test_patterns_are_sorted_and_deduplicated(write_rules: WriteRules, tmp_path: Path) -> None:
    """Matches are sorted per pattern, patterns keep their order, a file matched twice loads once."""
    for name in ("b.yml", "a.yml", "z/first.yml"):
        write_rules(name, "rules: []\n")
    rs = load_rule_files(["z/*.yml", "*.yml", "a.yml", str(tmp_path / "b.yml")], str(tmp_path))
    assert rs.files == ("z/first.yml", "a.yml", "b.yml")


def test_version_follows_content_and_names(write_rules: WriteRules, tmp_path: Path) -> None:
    """Same files give the same version; a changed byte or a renamed file gives another."""
    text = "rules:\n  - {name: a, severity: P1}\n"
    write_rules("a.yml", text)
    first = load_rule_files(["*.yml"], str(tmp_path)).version
    assert load_rule_files(["*.yml"], str(tmp_path)).version == first
    write_rules("a.yml", text.replace("P1", "P2"))
    changed = load_rule_files(["*.yml"], str(tmp_path)).version
    assert changed != first
    (tmp_path / "a.yml").rename(tmp_path / "b.yml")
    assert load_rule_files(["*.yml"], str(tmp_path)).version not in (first, changed)
