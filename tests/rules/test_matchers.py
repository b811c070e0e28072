"""Alertmanager matchers: grammar of pkg/labels/parse.go, anchored regexes, absent labels."""

from __future__ import annotations

import pytest

from receiver.rules import Matcher, parse_matcher, parse_matchers
from receiver.rules.matchers import go_quote


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('alertname="X"', {"alertname": "X"}, True),
        ('alertname="X"', {"alertname": "Y"}, False),
        ('env!="prod"', {"env": "staging"}, True),
        ('env!="prod"', {"env": "prod"}, False),
        ('service=~"risk|execution"', {"service": "execution"}, True),
        ('service=~"risk|execution"', {"service": "pricing"}, False),
        ('severity!~"info|debug"', {"severity": "critical"}, True),
        ('severity!~"info|debug"', {"severity": "info"}, False),
        ("job=api", {"job": "api"}, True),
    ],
)
def test_each_operator_matches_as_alertmanager_does(
    text: str, labels: dict[str, str], expected: bool
) -> None:
    """=, !=, =~ and !~ compare the label's value with the matcher's value."""
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ('a=~"uni"', "unicode", False),
        ('a=~"uni"', "uni", True),
        ('a=~"code"', "unicode", False),
        ('a=~"a|ab"', "ab", True),
        ('a!~"uni"', "unicode", True),
        ('a=~"foo$"', "foo\n", False),
        ('a=~"(?i)foo"', "FOO", True),
    ],
)
def test_regexes_are_fully_anchored(text: str, value: str, expected: bool) -> None:
    """A regex must match the whole value: =~"uni" does not match "unicode"."""
    assert parse_matcher(text).matches({"a": value}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('env=""', True),
        ('env!="prod"', True),
        ('env="prod"', False),
        ('env=~".*"', True),
        ('env=~".+"', False),
        ('env!~".+"', True),
    ],
)
def test_an_absent_label_matches_as_empty_string(text: str, expected: bool) -> None:
    """A label the alert does not have is compared as ""."""
    assert parse_matcher(text).matches({"alertname": "X"}) is expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'a="x\"y"', 'x"y'),
        (r'a="x\\y"', "x\\y"),
        (r'a="x\ny"', "x\ny"),
        (r'a="x\dy"', r"x\dy"),
        (r'a="x\\"', "x\\"),
        ('a="with, comma"', "with, comma"),
        ('a=""', ""),
        ("a=", ""),
        ("a=plain value", "plain value"),
        ("a=trailing\\", "trailing\\"),
        ('  a  =~  "b"  ', "b"),
        ('a="ünïcode ✓"', "ünïcode ✓"),
    ],
)
def test_values_unescape_like_parse_go(text: str, value: str) -> None:
    """Quoted values take \\", \\\\ and \\n; other backslashes stay; unquoted values are taken as is."""
    assert parse_matcher(text).value == value


def test_name_and_op_are_parsed() -> None:
    """The label name and operator come out as written; '=~' is not read as '=' plus a value '~…'."""
    assert parse_matcher('service=~"risk"') == Matcher("service", "=~", "risk")
    assert parse_matcher("le:ns_1!~x") == Matcher("le:ns_1", "!~", "x")


@pytest.mark.parametrize(
    ("matcher", "text"),
    [
        (Matcher("alertname", "=", "X"), 'alertname="X"'),
        (Matcher("a", "!=", 'say "hi"\\'), r'a!="say \"hi\"\\"'),
        (Matcher("a", "=~", "x\ny"), r'a=~"x\ny"'),
    ],
)
def test_str_is_the_canonical_alertmanager_form_and_parses_back(matcher: Matcher, text: str) -> None:
    """str() quotes the value as Go's %q, and parsing it gives the same matcher."""
    assert str(matcher) == text
    assert parse_matcher(text) == matcher


def test_go_quote_escapes_control_characters() -> None:
    """Control characters are escaped as Go does; printable Unicode stays as it is."""
    assert go_quote("a\x00b\x7fé\u2028") == '"a\\x00b\\x7fé\\u2028"'
    assert go_quote("tab\there") == r'"tab\there"'  # like Go; parse.go itself reads back only \n


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('{alertname="X", service=~"risk|execution"}', ["alertname", "service"]),
        ('alertname="X",service=~"risk|execution"', ["alertname", "service"]),
        ('  { a="1,2" , b="x\\",y" }  ', ["a", "b"]),
        ('a="1",', ["a"]),
        ("", []),
        ("{}", []),
    ],
)
def test_parse_matchers_splits_at_commas_outside_quotes(text: str, names: list[str]) -> None:
    """A list is comma separated, braces optional; commas in quoted values do not split."""
    assert [m.name for m in parse_matchers(text)] == names


def test_parse_matchers_keeps_values_with_commas_and_escaped_quotes() -> None:
    """The values of a brace list are unescaped like single matchers."""
    a, b = parse_matchers('{a="1,2", b="x\\",y"}')
    assert (a.value, b.value) == ("1,2", 'x",y')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('alertname=="X"', "invalid matcher 'alertname==\"X\"': unescaped double quote in an unquoted value"),
        ('a="b', "invalid matcher 'a=\"b': missing closing double quote"),
        ('a="b"c', "invalid matcher 'a=\"b\"c': unexpected text after the closing double quote"),
        ('a="b\\"', "invalid matcher 'a=\"b\\\"': missing closing double quote"),
        ('1a="b"', "invalid matcher '1a=\"b\"': expected <label><op><value>"),
        ('a~="b"', "invalid matcher 'a~=\"b\"': expected <label><op><value>"),
        ('"a"="b"', "invalid matcher '\"a\"=\"b\"': expected <label><op><value>"),
        ("alertname", "invalid matcher 'alertname': expected <label><op><value>"),
        ('a=~"("', "invalid matcher 'a=~\"(\"': bad regex \"(\": missing ), unterminated subpattern"),
        ('a!~"x{2,1}"', "invalid matcher 'a!~\"x{2,1}\"': bad regex \"x{2,1}\""),
    ],
)
def test_bad_matchers_raise_value_error_with_a_clear_message(text: str, message: str) -> None:
    """Every malformed matcher raises ValueError naming the matcher (and the regex, when it is bad)."""
    with pytest.raises(ValueError) as err:
        parse_matcher(text)
    assert str(err.value).startswith(message)


def test_parse_matchers_reports_the_bad_item() -> None:
    """An empty item between commas and a bad item in a list are errors, naming the item."""
    with pytest.raises(ValueError, match="invalid matcher '': "):
        parse_matchers('a="1",,b="2"')
    with pytest.raises(ValueError, match=r"invalid matcher 'b==\"2\"'"):
        parse_matchers('{a="1", b=="2"}')


def test_constructing_a_matcher_validates_it() -> None:
    """Matcher(...) itself rejects a bad regex, an unknown operator and a bad label name."""
    with pytest.raises(ValueError, match=r'bad regex "\["'):
        Matcher("a", "=~", "[")
    with pytest.raises(ValueError, match="unknown matcher operator"):
        Matcher("a", "==", "b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid label name"):
        Matcher("a-b", "=", "b")


def test_matchers_are_values() -> None:
    """Equal matchers compare and hash equal, whatever the compiled regex object is."""
    assert parse_matcher('a=~"x|y"') == Matcher("a", "=~", "x|y")
    assert len({parse_matcher('a=~"x"'), Matcher("a", "=~", "x"), Matcher("a", "=", "x")}) == 2
