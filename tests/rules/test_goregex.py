"""Matcher regexes compile and match as Alertmanager's (Go's regexp, RE2 syntax, ``^(?:v)$``).

Each table below holds the answer of Alertmanager itself: the ``*_agrees_with_amtool`` tests put
every row through the installed ``amtool`` 0.25 (``check-config`` to compile, ``config routes test``
to match), so the table cannot drift from the real thing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from receiver.rules import Matcher
from receiver.rules.goregex import GoRegex
from receiver.rules.matchers import openmetrics_escape

# (regex, label value, matches) -- Alertmanager's answers; where Python's `re` answers otherwise, the
# comment says how.
MATCHES: list[tuple[str, str, bool]] = [
    ("[[:alpha:]]+", "abc", True),  # POSIX class (re: a nested set, warning)
    ("[[:alpha:]]+", "ab1", False),
    ("[[:^digit:]]", "x", True),
    (r"\pL+", "héllo", True),  # re: bad escape \p
    (r"\p{Greek}+", "αβγ", True),
    (r"\p{Greek}+", "abc", False),
    (r"\PL", "1", True),
    (r"a\z", "a", True),  # re (3.11): bad escape \z
    (r"\Qa.b\E", "a.b", True),  # re: bad escape \Q
    (r"\Qa.b\E", "axb", False),
    ("foo(?i)BAR", "fooBaR", True),  # re: global flags not at the start
    ("foo(?i)BAR", "FOObar", False),
    ("(?i:a)b", "Ab", True),
    ("(?U)a+", "aaa", True),  # re: unknown flag U
    (r"\d", "٣", False),  # ASCII-only \d; re: matches ARABIC-INDIC DIGIT THREE
    (r"\d", "3", True),
    (r"\w", "é", False),  # re: matches
    (r"\s", "\u00a0", False),  # re: matches NO-BREAK SPACE
    (r"\s", "\v", False),  # Go's \s is [\t\n\f\r ]; re: matches VT
    (r"\s", "\t", True),
    ("a{,2}", "a{,2}", True),  # a literal; re: a{0,2}
    ("a{,2}", "aa", False),
    ("a{1000}", "a" * 1000, True),
    ("a)|(b", "axx", True),  # ^(?:a)|(b)$: two alternatives, each anchored on one side only
    ("a)|(b", "xxb", True),
    ("a)|(b", "xbx", False),
    ("foo$", "foo\n", False),  # $ is the end of text (re: also before a final newline)
    ("(?m)foo$", "foo\n", False),  # the appended ')$' still needs the end of text
    (".", "\n", False),
    ("(?s).", "\n", True),
    ("(?i)k", "\u212a", True),  # KELVIN SIGN folds to k
    ("(?i)s", "ſ", True),  # LATIN SMALL LETTER LONG S folds to s, as in Go's simple folding
    ("(?i)ß", "ẞ", True),
    ("(?i)σ", "ς", True),
    ("(?i)ǅ", "ǆ", True),
    ("(?i)ǰ", "J̌", False),  # no full (multi-rune) case folding
    ("uni", "unicode", False),
    (r"\x{1F642}", "🙂", True),
    (r"[^a]", "🙂", True),  # one rune, not one byte
    ("", "", True),
]

# (regex, compiles) -- whether Alertmanager accepts it.
COMPILES: list[tuple[str, bool]] = [
    ("a{1001}", False),  # repeat counts over 1000
    ("a{1000}", True),
    ("(x{100}){11}", False),  # nested repeats multiply
    ("(x{100}){10}", True),
    (r"\C", False),  # C++ RE2 accepts it; Go has no any-byte escape
    (r"\Q\C\E", True),
    (r"\Qa.b", False),  # without \E it also quotes the appended ')$'

    (r"\\C", True),
    ("(?<n>x)", False),  # Go < 1.22
    ("(?P<n>x)", True),
    ("(?P<ä>x)", False),  # C++ RE2 accepts Unicode group names
    (r"\p{Kawi}", False),  # Unicode 15 script: unknown to Go 1.20
    (r"\p{Toto}", False),  # Unicode 14
    (r"[\p{Cypro_Minoan}]", False),
    (r"\p{Braille}", True),
    (r"a\Z", False),
    (r"\pL{1000}", True),  # RE2's default 8 MiB budget would refuse it
    ("a**", False),
    ("a{2}{3}", False),
    (r"(?x)a b", False),
    ("(?#c)", False),
    ("(?=a)", False),
    (r"\1", False),
    ("x{2,1}", False),
    ("[[:foo:]]", False),
    (r"\p{L&}", False),
    ("(?)", True),
    ("a)|(b", True),
    ("[a", False),
    ("(", False),
]


@pytest.mark.parametrize(("regex", "value", "expected"), MATCHES)
def test_regex_matches_as_alertmanager(regex: str, value: str, expected: bool) -> None:
    """=~ matches (and !~ does not) exactly where Alertmanager's anchored Go regexp does."""
    assert Matcher("a", "=~", regex).matches({"a": value}) is expected
    assert Matcher("a", "!~", regex).matches({"a": value}) is not expected


@pytest.mark.parametrize(("regex", "ok"), COMPILES)
def test_regex_is_accepted_where_alertmanager_accepts_it(regex: str, ok: bool) -> None:
    """A regex Alertmanager rejects raises ValueError naming it; one it accepts compiles."""
    if ok:
        GoRegex(regex)
    else:
        with pytest.raises(ValueError):
            GoRegex(regex)


def test_a_lone_surrogate_in_a_label_matches_as_go_reads_it() -> None:
    """JSON "\\ud800" arrives as U+FFFD in Go: it matches '.' and \\x{FFFD}, and never raises."""
    assert Matcher("a", "=~", r"\x{FFFD}").matches({"a": "\ud800"})
    assert Matcher("a", "=~", "x.y").matches({"a": "x\udfffy"})


def test_the_error_names_the_reason() -> None:
    """The message carries RE2's reason, as Go's does (which also shows the anchored pattern)."""
    with pytest.raises(ValueError, match="invalid repetition size"):
        GoRegex("a{1001}")
    with pytest.raises(ValueError, match=r"invalid escape sequence: `\\C`"):
        GoRegex(r"x\C")


AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool (Debian prometheus-alertmanager) not installed")


def _route_config(regexes: list[str]) -> str:
    routes = [
        {"receiver": f"r{i}", "matchers": [f'l{i}=~"{openmetrics_escape(r)}"'], "continue": True}
        for i, r in enumerate(regexes)
    ]
    receivers = [{"name": "default"}] + [{"name": f"r{i}"} for i in range(len(regexes))]
    return json.dumps({"route": {"receiver": "default", "routes": routes}, "receivers": receivers})


@needs_amtool
def test_the_match_table_agrees_with_amtool(tmp_path: Path) -> None:
    """`amtool config routes test` routes each row's value to its row's receiver exactly when MATCHES says so."""
    config = tmp_path / "am.yml"
    config.write_text(_route_config([r for r, _, _ in MATCHES]))
    labels = [f'l{i}="{openmetrics_escape(v)}"' for i, (_, v, _) in enumerate(MATCHES)]
    out = subprocess.run([str(AMTOOL), "config", "routes", "test", f"--config.file={config}", *labels],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    routed = set(out.strip().split(","))
    assert {i for i in range(len(MATCHES)) if f"r{i}" in routed} == {i for i, row in enumerate(MATCHES) if row[2]}


@needs_amtool
def test_the_compile_table_agrees_with_amtool(tmp_path: Path) -> None:
    """`amtool check-config` accepts exactly the COMPILES rows marked True."""
    files = []
    for i, (regex, _) in enumerate(COMPILES):
        files.append(tmp_path / f"c{i:03d}.yml")
        files[-1].write_text(_route_config([regex]))
    out = subprocess.run([str(AMTOOL), "check-config", *map(str, files)],
                         capture_output=True, text=True, timeout=60).stdout
    accepted = {i for i, f in enumerate(files) if f"Checking '{f}'  SUCCESS" in out}
    assert accepted == {i for i, (_, ok) in enumerate(COMPILES) if ok}
