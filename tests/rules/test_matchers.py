"""Alertmanager matchers: grammar of pkg/labels/parse.go, anchored regexes, absent labels, printing.

The vectors in ``PARSE_TEST_GO`` are TestMatchers of prometheus/alertmanager
``pkg/labels/parse_test.go``; ``MATCHER_TEST_GO`` and ``STRING_TEST_GO`` are TestMatcher and
TestMatcherString of ``pkg/labels/matcher_test.go``; both at tag v0.27.0 (the classic parser, whose
behaviour v0.25.0 shares; only the values are copied).
"""

from __future__ import annotations

import pytest

from receiver.rules import Matcher, parse_matcher, parse_matchers
from receiver.rules.matchers import format_matchers, go_quote


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
    """str() prints as Matcher.String() does, and parsing it gives the same matcher."""
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
        ('{ a="1,2" , b="x\\",y" }', ["a", "b"]),
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
        ('a=~"("', "invalid matcher 'a=~\"(\"': bad regex \"(\": missing )"),
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


# -- prometheus/alertmanager pkg/labels/parse_test.go (v0.27.0), TestMatchers -----------------------
# (input, expected matchers) or (input, None) where Alertmanager returns an error.
PARSE_TEST_GO: list[tuple[str, list[tuple[str, str, str]] | None]] = [
    ("{}", []),
    (",", None),
    ("{,}", None),
    ("{foo='}", [("foo", "=", "'")]),
    ("{foo=`}", [("foo", "=", "`")]),
    ('{foo=\\"}', [("foo", "=", '"')]),
    ("{foo=bar}", [("foo", "=", "bar")]),
    ('{foo="bar"}', [("foo", "=", "bar")]),
    ("{foo=~bar.*}", [("foo", "=~", "bar.*")]),
    ('{foo=~"bar.*"}', [("foo", "=~", "bar.*")]),
    ("{foo!=bar}", [("foo", "!=", "bar")]),
    ('{foo!="bar"}', [("foo", "!=", "bar")]),
    ("{foo!~bar.*}", [("foo", "!~", "bar.*")]),
    ('{foo!~"bar.*"}', [("foo", "!~", "bar.*")]),
    ('{foo="bar", baz!="quux"}', [("foo", "=", "bar"), ("baz", "!=", "quux")]),
    ('{foo="bar", baz!~"quux.*"}', [("foo", "=", "bar"), ("baz", "!~", "quux.*")]),
    ('{foo="bar",baz!~".*quux", derp="wat"}', [("foo", "=", "bar"), ("baz", "!~", ".*quux"), ("derp", "=", "wat")]),
    ('{foo="bar", baz!="quux", derp="wat"}', [("foo", "=", "bar"), ("baz", "!=", "quux"), ("derp", "=", "wat")]),
    ('{foo="bar", baz!~".*quux.*", derp="wat"}',
     [("foo", "=", "bar"), ("baz", "!~", ".*quux.*"), ("derp", "=", "wat")]),
    ('{foo="bar", instance=~"some-api.*"}', [("foo", "=", "bar"), ("instance", "=~", "some-api.*")]),
    ('{foo=""}', [("foo", "=", "")]),
    ('{foo="bar,quux", job="job1"}', [("foo", "=", "bar,quux"), ("job", "=", "job1")]),
    ('{foo = "bar", dings != "bums", }', [("foo", "=", "bar"), ("dings", "!=", "bums")]),
    ("foo=bar,dings!=bums", [("foo", "=", "bar"), ("dings", "!=", "bums")]),
    ('{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}',
     [("quote", "=", 'She said: "Hi, ladies! That\'s gender-neutral…"')]),
    ('statuscode=~"5.."', [("statuscode", "=~", "5..")]),
    ("tricky=~~~", [("tricky", "=~", "~~")]),
    ('trickier==\\\\=\\=\\"', [("trickier", "=", '=\\=\\="')]),
    ('contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
     [("contains_quote", "!=", '"'), ("contains_comma", "!~", "foo,bar")]),
    ("{foo=bar}}", [("foo", "=", "bar}")]),
    ("{foo=bar}},}", [("foo", "=", "bar}}")]),
    ("{foo=,bar=}}", [("foo", "=", ""), ("bar", "=", "}")]),
    ("{foo=bar\\t}", [("foo", "=", "bar\\t")]),
    ("{foo=bar\\n}", [("foo", "=", "bar\n")]),
    ("{foo=bar\\}", [("foo", "=", "bar\\")]),
    ("{foo=bar\\\\}", [("foo", "=", "bar\\")]),
    ('{foo=bar\\"}', [("foo", "=", 'bar"')]),
    ("job=", [("job", "=", "")]),
    ('job="value', None),
    ('job=value"', None),
    ('trickier==\\\\=\\=\\""', None),
    ('contains_unescaped_quote = foo"bar', None),
    ('{invalid-name = "valid label"}', None),
    ('{foo=~"invalid[regexp"}', None),
    ('"{foo=\\"bar"}', None),
    ('"foo=\\"bar"', None),
    ('"foo=\\"bar\\""', None),
    ('"foo=\\"bar\\"', None),
    ('"{foo=\\"bar\\"}"', None),
    ('"foo="bar""', None),
    ("{{foo=", None),
    ("{foo=", [("foo", "=", "")]),
    ("{foo=}b", [("foo", "=", "}b")]),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_TEST_GO)
def test_parse_matchers_agrees_with_alertmanagers_parse_test_go(
    text: str, expected: list[tuple[str, str, str]] | None
) -> None:
    """Every input of parse_test.go parses to the same matchers, or fails where Alertmanager fails."""
    if expected is None:
        with pytest.raises(ValueError, match="^invalid matcher '"):
            parse_matchers(text)
    else:
        assert parse_matchers(text) == [Matcher(n, op, v) for n, op, v in expected]  # type: ignore[arg-type]


def test_a_bad_regex_in_a_list_fails_like_parse_test_go() -> None:
    """parse_test.go: {foo=~"invalid[regexp"} fails with "missing closing ]" on `[regexp)$`."""
    with pytest.raises(ValueError, match=r"bad regex \"invalid\[regexp\": missing \]: \[regexp\)\$"):
        parse_matchers('{foo=~"invalid[regexp"}')


@pytest.mark.parametrize("text", [' {a="b"}', '{a="b"} ', '{ a="1", b="x\\",y" }  '])
def test_braces_are_trimmed_before_whitespace_as_in_parse_go(text: str) -> None:
    """strings.TrimPrefix(s, "{") runs on the raw text: a space before "{" leaves it in the first matcher."""
    with pytest.raises(ValueError, match="invalid matcher"):
        parse_matchers(text)


def test_a_comma_in_quotes_keeps_a_pending_escape_as_parse_go_does() -> None:
    r"""In ParseMatchers' switch a quoted ',' does not reset `escaped`, so in `a="x\,",b="y"` the
    second quote does not close: one matcher with an unescaped quote, an error (as amtool 0.25 says)."""
    with pytest.raises(ValueError) as err:
        parse_matchers('a="x\\,",b="y"')
    assert str(err.value).startswith("invalid matcher 'a=\"x\\,\",b=\"y\"': unexpected text")


def test_only_ascii_whitespace_surrounds_tokens_as_parse_go_regex_does() -> None:
    r"""parse.go's \s is ASCII, and only the last item is TrimSpace'd (Unicode): checked with amtool 0.25."""
    assert parse_matchers("a=b\u00a0, c=d")[0].value == "b\u00a0"
    assert parse_matchers('\u00a0a="b"') == [Matcher("a", "=", "b")]
    with pytest.raises(ValueError, match="expected <label><op><value>"):
        parse_matchers('\u00a0a="b", c=d')


# -- prometheus/alertmanager pkg/labels/matcher_test.go (v0.27.0), TestMatcher ----------------------
MATCHER_TEST_GO: list[tuple[str, str, str, bool]] = [
    ("=", "bar", "bar", True),
    ("=", "bar", "foo-bar", False),
    ("!=", "bar", "bar", False),
    ("!=", "bar", "foo-bar", True),
    ("=~", "bar", "bar", True),
    ("=~", "bar", "foo-bar", False),
    ("=~", ".*bar", "foo-bar", True),
    ("!~", "bar", "bar", False),
    ("!~", "bar", "foo-bar", True),
    ("!~", ".*bar", "foo-bar", False),
    ("=~", "foo.bar", "foo-bar", True),
    ("=~", "foo\\.bar", "foo-bar", False),
    ("=~", "foo\\.bar", "foo.bar", True),
    ("=", "foo\nbar", "foo\nbar", True),
    ("=~", "foo.bar", "foo\nbar", False),
    ("=~", "(?s)foo.bar", "foo\nbar", True),
    ("=", '~!="', '~!="', True),
]


@pytest.mark.parametrize(("op", "value", "label", "expected"), MATCHER_TEST_GO)
def test_matches_agrees_with_alertmanagers_matcher_test_go(op: str, value: str, label: str, expected: bool) -> None:
    """Each TestMatcher case matches (or not) as in Alertmanager (its label name is "", ours "a")."""
    assert Matcher("a", op, value).matches({"a": label}) is expected  # type: ignore[arg-type]


# TestMatcherString, the cases with a classic label name (the others quote UTF-8 names, 0.27+ only).
STRING_TEST_GO: list[tuple[str, str, str]] = [
    ("=", "bar", 'foo="bar"'),
    ("!=", "bar", 'foo!="bar"'),
    ("=~", "bar", 'foo=~"bar"'),
    ("!~", "bar", 'foo!~"bar"'),
    ("=", "back\\slash", 'foo="back\\\\slash"'),
    ("=", 'double"quote', 'foo="double\\"quote"'),
    ("=", "new\nline", 'foo="new\\nline"'),
    ("=", "tab\tstop", 'foo="tab\tstop"'),
    ("=", "🙂", 'foo="🙂"'),
]


@pytest.mark.parametrize(("op", "value", "printed"), STRING_TEST_GO)
def test_str_agrees_with_alertmanagers_matcher_string(op: str, value: str, printed: str) -> None:
    r"""str() prints as Matcher.String() (openMetricsEscape: only \, newline and " are escaped)."""
    assert str(Matcher("foo", op, value)) == printed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["tab\tstop", 'q"uote', "back\\slash", "new\nline", "trailing\\", "\\n literal", ' lead and trail ',
     "comma, {brace}", "ctl\x01\x7f", "ünï ✓ 🙂", "", '\\"', "\r\n"],
)
@pytest.mark.parametrize("op", ["=", "!=", "=~", "!~"])
def test_a_printed_matcher_parses_back_to_itself(op: str, value: str) -> None:
    """parse_matcher(str(m)) == m for values with tabs, quotes, backslashes and newlines, alone and in a list."""
    if op in ("=~", "!~"):
        value = value.replace("\\", "\\\\").replace("{", "\\{").replace("(", "\\(")  # keep the regex valid
    m = Matcher("a", op, value)  # type: ignore[arg-type]
    assert parse_matcher(str(m)) == m
    assert parse_matchers(format_matchers([m, Matcher("b", "=", "x")])) == [m, Matcher("b", "=", "x")]


def test_a_list_prints_as_alertmanagers_matchers_string() -> None:
    """Matchers.String(): braces, commas, no spaces."""
    assert format_matchers(parse_matchers('a="1", b=~"x|y"')) == '{a="1",b=~"x|y"}'
