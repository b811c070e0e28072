"""Rule unit tests as data: the passing and deliberately failing files of tests/rules/unit/, the shipped
rules' own test file, errors in test files, and the comparison of expectations with a plan."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
import yaml

from receiver.rules import load_rule_files, unittest_model
from receiver.rules.testing import compare, horizon
from receiver.rules.unittest_model import RuleTestCase, RuleTestFile
from receiver.simulate import Deployment, fingerprint, plan
from receiver.simulate.unittests import run_test_file, sim_alerts
from tests.conftest import FIXTURES, ROOT

UNIT = "tests/rules/unit"

# Every failure of failing_test.yml, exactly, in order (line of the case, then the message).
FAILURES = [
    (5, "rule: expected latency, got orders-down"),
    (5, "severity: expected P1, got P0"),
    (12, 'incident: expected {"alertname": "OrderGatewayDown"}, got {"alertname": "OrderGatewayDown", '
         '"venue": "XNAS"}'),
    (12, "playbook: expected null, got halt"),
    (19, "steps[0] 'halt-venue': action: expected log, got http"),
    (19, "steps[0] 'halt-venue': params.url: expected http://gw.test/venues/XLON/halt, got "
         "http://gw.test/venues/XNAS/halt"),
    (19, "steps[0] 'halt-venue': params.json.dry_run: expected false, got nothing (no such parameter)"),
    (31, 'steps: expected ["halt-venue"], got ["halt-venue", "note"]'),
    (38, "notifications:\n"
         "    expected:\n"
         "      +0s      page     chat\n"
         "      +0s      page     pager\n"
         "    got:\n"
         "      +0s      page     chat\n"
         "      +0s      page     pager\n"
         "      +10m     page     mail"),
    (47, "no_notifications_after 1m: got\n"
         "      +20m     update   chat\n"
         "      +40m     update   chat\n"
         "      +1h      update   chat\n"
         "      +1h20m   update   chat\n"
         "      +1h40m   update   chat\n"
         "      ... and 67 more"),
    (54, "incidents: expected 1, got 2 (rules: 'audit', 'latency')"),
    (54, "incident 1 (rule 'audit'): rule: expected latency, got audit"),
    (60, "incidents: expected 0, got 1 (rules: 'latency')"),
]


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_the_shipped_rules_pass_their_own_tests() -> None:
    """rules/tests/shipped_test.yml passes against the shipped rules/*.yml."""
    result = run_test_file("rules/tests/shipped_test.yml")
    assert result.errors == []
    assert [(c.name, c.failures) for c in result.cases if c.failures] == []
    assert len(result.cases) >= 10
    assert list(result.lines())[-1] == f"  SUCCESS: {len(result.cases)} test(s) passed"


def test_every_passing_case_passes() -> None:
    """passing_test.yml: rendered parameters, escalation, ack, continue and per-case times all hold."""
    result = run_test_file(f"{UNIT}/passing_test.yml")
    assert result.ok, "\n".join(result.lines())
    assert [c.name for c in result.cases] == [
        "gateway down halts the venue",
        "acknowledged before ten minutes, the desk's inbox stays quiet",
        "continue adds the audit rule after the first match",
        "the evaluation time of a case is its own",
        "a notify step, a wait for resolution and what resolving does",
        "stale quotes are P0 in market hours (the file's time, Monday 10:00 in New York)",
        "stale quotes are P2 after the close",
        "stale quotes are P2 on a Saturday",
    ]


def test_every_failing_case_fails_with_its_message() -> None:
    """failing_test.yml: each case fails, showing expected against got."""
    result = run_test_file(f"{UNIT}/failing_test.yml")
    assert result.errors == []
    assert all(c.failures for c in result.cases)
    assert [(c.line, f) for c in result.cases for f in c.failures] == FAILURES


def test_the_report_reads_like_promtool() -> None:
    """Each failure is one 'FAILED: test ...' entry naming file and line; the summary counts them."""
    lines = list(run_test_file(f"{UNIT}/failing_test.yml").lines())
    assert lines[0] == f"Unit Testing: {UNIT}/failing_test.yml"
    assert lines[1] == (f"  FAILED: test 'wrong severity and rule' ({UNIT}/failing_test.yml:5): "
                        "rule: expected latency, got orders-down")
    assert lines[-1] == "  8 of 8 test(s) failed"
    notifications = next(x for x in lines if "nobody acknowledges" in x)
    assert notifications.splitlines()[1:3] == ["        expected:", "          +0s      page     chat"]


def test_mistakes_in_a_test_file_are_reported_with_their_line() -> None:
    """A bad test file runs nothing and names each mistake as file:line: path: message."""
    result = run_test_file(f"{UNIT}/bad_format_test.yml")
    assert result.cases == []
    assert result.errors == [
        f"{UNIT}/bad_format_test.yml:5: tests[0].alerts: must not be empty",
        f"{UNIT}/bad_format_test.yml:10: tests[1].alerts[0].at: not a duration: '5 minutes' (use e.g. 30s, "
        "5m, 1h30m)",
        f"{UNIT}/bad_format_test.yml:12: tests[1].expect: unknown key 'severty'",
        f"{UNIT}/bad_format_test.yml:15: tests[2].alerts[0]: resolved_at must not be before at",
    ]
    assert not result.ok


def test_broken_rules_under_test_are_reported_with_their_line() -> None:
    """Rule files that do not load stop the test file with their own file:line errors."""
    result = run_test_file(f"{UNIT}/broken_rules_test.yml")
    assert result.errors == [
        "tests/rules/bad/unknown_playbook.yml:5: rule 'trading-down': playbook: unknown playbook 'halt-tradng'"]


def test_a_missing_file_is_an_error() -> None:
    """A test file that cannot be read fails."""
    result = run_test_file(f"{UNIT}/nothing_here.yml")
    assert result.errors == [f"{UNIT}/nothing_here.yml: cannot read: No such file or directory"]


def test_run_selects_cases_by_name() -> None:
    """--run (a regex) runs only the matching cases."""
    result = run_test_file(f"{UNIT}/failing_test.yml", run=re.compile("^two incidents"))
    assert [c.name for c in result.cases] == ["two incidents where one was expected"]


def test_the_fingerprint_is_alertmanagers() -> None:
    """Alerts of a test get the fingerprint Alertmanager gives the same labels (captured payloads)."""
    pairs = [(a["labels"], a["fingerprint"]) for f in sorted(FIXTURES.glob("*.json"))
             for a in json.loads(f.read_text())["alerts"]]
    assert len(pairs) >= 10
    assert all(fingerprint(labels) == fp for labels, fp in pairs)


def _case(text: str) -> RuleTestCase:
    return RuleTestCase.model_validate(yaml.safe_load(text))


def test_until_defaults_to_the_latest_time_the_case_mentions() -> None:
    """The case runs to its latest offset; no_notifications_after watches for a day; until overrides."""
    case = _case("""
        name: x
        alerts: [{labels: {a: b}, at: 1m, resolved_at: 7m}]
        ack_at: 3m
        expect: {notifications: [{at: 9m, receiver: r}]}
    """)
    assert horizon(case) == 540
    assert horizon(case.model_copy(update={"until": 60.0})) == 60
    watch = _case("{name: x, alerts: [{labels: {a: b}}], expect: {no_notifications_after: 5m}}")
    assert horizon(watch) == 300 + 86400


def test_params_are_compared_as_a_subset_and_lists_exactly() -> None:
    """Only the parameters a case names are compared; mappings key by key, lists as a whole."""
    rs = load_rule_files([f"{UNIT}/rules.yml"], ".")
    case = _case("""
        name: x
        alerts: [{labels: {alertname: OrderGatewayDown, venue: XNAS}}]
        expect:
          steps:
            - name: halt-venue
              params: {headers: {Authorization: Bearer <redacted>}}
            - name: note
              params: {message: [OrderGatewayDown]}
    """)
    p = plan(rs, sim_alerts(case, 0.0), until=0.0, start=0.0, deployment=Deployment())
    assert compare(case, p) == [
        "steps[1] 'note': params.message: expected [\"OrderGatewayDown\"], got OrderGatewayDown (venue=XNAS) halted"]


def test_secrets_render_redacted_and_labels_stay_data() -> None:
    """In tests every secret shows as <redacted>; a label holding template syntax is never rendered."""
    rs = load_rule_files([f"{UNIT}/rules.yml"], ".")
    case = _case("""
        name: x
        alerts: [{labels: {alertname: OrderGatewayDown, venue: "{{ 7*7 }}"}}]
        expect: {}
    """)
    p = plan(rs, sim_alerts(case, 0.0), until=0.0, start=0.0, deployment=Deployment(vars={"gateway": "g"}))
    [step, _] = p["incidents"][0]["playbook"]["steps"]
    assert step["params"]["url"] == "g/venues/%7B%7B%207%2A7%20%7D%7D/halt"  # "{{ 7*7 }}" as one path segment
    assert step["params"]["headers"] == {"Authorization": "Bearer <redacted>"}


def test_the_example_in_the_format_docstring_loads() -> None:
    """The example in receiver.rules.unittest_model's docstring is a valid test file."""
    example = textwrap.dedent((unittest_model.__doc__ or "").split("Example::", 1)[1])
    assert RuleTestFile.model_validate(yaml.safe_load(example)).tests[0].expected()[0].severity == "P0"
