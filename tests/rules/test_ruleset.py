"""RuleSet decisions: first match wins, continue, the catch-all, and incident identity."""

from __future__ import annotations

import pytest

from receiver.rules import CATCH_ALL, CompiledRule, RuleSet, SourcePos, parse_matchers


def rule(name: str, matchers: str = "", *, cont: bool = False, severity: str = "P1",
         group_by: tuple[str, ...] = ("alertname",)) -> CompiledRule:
    """A compiled rule for tests."""
    return CompiledRule(
        name=name,
        matchers=tuple(parse_matchers(matchers)),
        severity=severity,
        playbook=None,
        group_by=group_by,
        continue_=cont,
        source=SourcePos("rules/test.yml", 1),
    )


def ruleset(*rules: CompiledRule, default_severity: str = "P3") -> RuleSet:
    """A rule set of ``rules`` with no playbooks, receivers or policies."""
    return RuleSet(rules=rules, playbooks={}, receivers={}, escalation_policies={}, version="0" * 12,
                   files=("rules/test.yml",), default_severity=default_severity)


def names(rs: RuleSet, labels: dict[str, str]) -> list[str]:
    """The names of the rules ``labels`` match."""
    return [r.name for r in rs.match(labels)]


def test_the_first_matching_rule_wins() -> None:
    """Without continue, later matching rules are not considered."""
    rs = ruleset(rule("a", 'job="x"'), rule("b", 'job="x"'), rule("c"))
    assert names(rs, {"job": "x"}) == ["a"]
    assert names(rs, {"job": "y"}) == ["c"]


def test_continue_adds_later_matching_rules_until_one_without_continue() -> None:
    """A matching rule with continue: true lets the search go on (Alertmanager route semantics)."""
    rs = ruleset(
        rule("audit", 'team="trading"', cont=True),
        rule("skipped", 'team="other"'),
        rule("also", 'job="x"', cont=True),
        rule("last", 'job="x"'),
        rule("never", 'job="x"'),
    )
    assert names(rs, {"team": "trading", "job": "x"}) == ["audit", "also", "last"]
    assert names(rs, {"team": "trading"}) == ["audit"]


def test_a_continue_rule_alone_does_not_bring_the_catch_all() -> None:
    """When only continue rules match, the alert is theirs; the catch-all is only for no match."""
    rs = ruleset(rule("audit", 'team="trading"', cont=True))
    assert names(rs, {"team": "trading"}) == ["audit"]


def test_an_unmatched_alert_goes_to_the_catch_all() -> None:
    """No matching rule gives the built-in catch-all with the default severity, never nothing."""
    rs = ruleset(rule("a", 'job="x"'), default_severity="P2")
    [got] = rs.match({"alertname": "Unknown"})
    assert got is rs.catch_all()
    assert (got.name, got.matchers, got.severity, got.playbook, got.group_by, got.continue_, got.source) == (
        CATCH_ALL, (), "P2", None, ("alertname",), False, None,
    )
    assert ruleset().catch_all().severity == "P3"


def test_rule_lookup_by_name() -> None:
    """rule(name) finds a rule, and the catch-all by its name."""
    rs = ruleset(rule("a"))
    assert rs.rule("a") is rs.rules[0]
    assert rs.rule(CATCH_ALL) is rs.catch_all()
    assert rs.rule("nope") is None


def test_identity_is_the_group_by_labels() -> None:
    """identity() keeps the group_by labels in order; absent ones are ""."""
    r = rule("trading-down", group_by=("job", "alertname"))
    assert r.identity({"alertname": "TradingSystemDown", "instance": "i-1"}) == {
        "job": "", "alertname": "TradingSystemDown"}


def test_identity_key_has_the_documented_form() -> None:
    """The key is the rule name and the sorted group_by pairs with %q-quoted values."""
    r = rule("trading-down", group_by=("job", "alertname"))
    labels = {"alertname": "TradingSystemDown", "job": "x", "instance": "i-1"}
    assert r.identity_key(labels) == 'trading-down|alertname="TradingSystemDown",job="x"'


def test_identity_key_is_stable() -> None:
    """Label order, extra labels and repeated calls do not change the key."""
    r = rule("trading-down", group_by=("job", "alertname"))
    a = r.identity_key({"alertname": "A", "job": "x"})
    b = r.identity_key({"job": "x", "severity": "critical", "alertname": "A"})
    assert a == b == r.identity_key(dict(reversed(list({"alertname": "A", "job": "x"}.items()))))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"job": 'x",job2="y'}, {"job": "x", "job2": "y"}),
        ({"job": "a,b"}, {"job": "a", "job2": "b"}),
        ({"job": "a|b"}, {"job": "a", "job2": "|b"}),
    ],
)
def test_identity_key_is_unambiguous(one: dict[str, str], other: dict[str, str]) -> None:
    """Values are escaped, so a crafted label value cannot collide with another label set."""
    r = rule("r", group_by=("job", "job2"))
    assert r.identity_key(one) != r.identity_key(other)


def test_identity_key_treats_an_absent_label_as_empty() -> None:
    """An absent group_by label and an empty one give the same identity, as in Alertmanager."""
    r = rule("r", group_by=("job",))
    assert r.identity_key({"job": ""}) == r.identity_key({}) == 'r|job=""'


def test_identity_key_differs_between_rules() -> None:
    """Two rules never share an identity, even over the same labels."""
    labels = {"alertname": "A"}
    assert rule("a").identity_key(labels) != rule("b").identity_key(labels)


def test_a_rule_without_matchers_matches_everything() -> None:
    """An empty matcher list always holds."""
    assert rule("all").matches({})


def test_ruleset_mappings_are_read_only() -> None:
    """The rule set is immutable: it is replaced whole on reload, never edited."""
    rs = ruleset()
    with pytest.raises(TypeError):
        rs.playbooks["x"] = None  # type: ignore[index]
