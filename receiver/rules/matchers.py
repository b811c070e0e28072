"""Alertmanager label matchers: ``name op "value"`` with ops ``=``, ``!=``, ``=~``, ``!~``.

Follows Alertmanager's classic grammar (``pkg/labels/parse.go`` and ``pkg/labels/matcher.go``):
label names match ``[a-zA-Z_:][a-zA-Z0-9_:]*``; a value is unquoted or ``"quoted"`` with the escapes
``\\"``, ``\\\\`` and ``\\n`` (any other backslash is kept literally); a regex is fully anchored, so
``=~"uni"`` does not match ``unicode``; an absent label matches as ``""``. A list may be written
``{a="b", c=~"d"}`` or without braces, comma separated (commas inside quotes do not split).

Regexes are compiled once, when the matcher is made, with Python's ``re`` (RE2 syntax is nearly a
subset of it), so a bad regex fails ``runbookd check`` rather than a page at 3 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]
"""A matcher operator: equal, not equal, regex match, regex non-match."""
OPS: tuple[Op, ...] = ("=", "!=", "=~", "!~")
"""The operators, in Alertmanager's order."""

LABEL_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
"""A matcher's label name (classic grammar of parse.go); use with ``fullmatch``."""
# '=~' and '!~' before '=' and '!=' so the '~' is not taken as part of the value (as parse.go does).
_MATCHER = re.compile(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*", re.DOTALL)
_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\a": "\\a", "\b": "\\b",
               "\f": "\\f", "\v": "\\v"}


def go_quote(value: str) -> str:
    """Quote ``value`` as Go's ``%q`` / ``strconv.Quote`` does: ``a"b`` → ``"a\\"b"``.

    Printable characters (Unicode included) stay as they are; ``"`` and ``\\`` are escaped; control
    characters become ``\\n``, ``\\t``, … or ``\\xNN`` / ``\\uNNNN``. The result is unambiguous: it
    can be split on characters outside quotes.
    """
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # the common case: nothing to escape
    out = ['"']
    for ch in value:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


@dataclass(frozen=True)
class Matcher:
    """One label matcher; equal matchers have equal ``(name, op, value)``.

    ``value`` is the unescaped value (for ``=~``/``!~`` the regex source). Constructing a regex
    matcher compiles it once; raises ``ValueError`` naming the regex when it does not compile, and
    for an unknown ``op`` or an invalid label ``name``.
    """

    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown matcher operator {self.op!r} (use one of {', '.join(OPS)})")
        if not LABEL_NAME.fullmatch(self.name):
            raise ValueError(f"invalid label name {self.name!r}: must match {LABEL_NAME.pattern}")
        if self.op in ("=~", "!~"):
            # Compiled without wrapping in ^(?:…)$: fullmatch anchors the same way, and a leading
            # global flag such as (?i) (common in Alertmanager configs) stays legal in Python 3.11.
            try:
                compiled = re.compile(self.value)
            except (re.error, OverflowError, RecursionError) as e:
                raise ValueError(f"bad regex {go_quote(self.value)}: {e}") from None
            object.__setattr__(self, "_regex", compiled)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher; an absent label is matched as ``""``."""
        got = labels.get(self.name, "")
        if self._regex is not None:
            return (self._regex.fullmatch(got) is not None) == (self.op == "=~")
        return (got == self.value) == (self.op == "=")

    def __str__(self) -> str:
        """The canonical Alertmanager form, ``name<op>"value"`` (value quoted as Go's ``%q``)."""
        return f"{self.name}{self.op}{go_quote(self.value)}"


def _unescape(raw: str, text: str) -> str:
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    escaped = False
    closed = False
    for i, ch in enumerate(body):
        if closed:
            raise ValueError(f"invalid matcher '{text}': unexpected text after the closing double quote")
        if escaped:
            escaped = False
            if ch == "n":
                out.append("\n")
            elif ch in '"\\':
                out.append(ch)
            else:  # a spurious escape keeps its backslash, as in parse.go
                out.append("\\" + ch)
        elif ch == "\\":
            if i < len(body) - 1:
                escaped = True
            else:
                out.append("\\")
        elif ch == '"':
            if not quoted:
                raise ValueError(f"invalid matcher '{text}': unescaped double quote in an unquoted value")
            closed = True
        else:
            out.append(ch)
    if quoted and not closed:
        raise ValueError(f"invalid matcher '{text}': missing closing double quote")
    return "".join(out)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as ``alertname="X"``, ``service=~"risk|execution"`` or ``env!=prod``.

    Raises ``ValueError`` whose message starts ``invalid matcher '<text>':`` and says what is wrong
    (bad format, unescaped or missing quote, bad regex).
    """
    m = _MATCHER.fullmatch(text)
    if m is None:
        raise ValueError(
            f"invalid matcher '{text}': expected <label><op><value> with a label name matching "
            f"{LABEL_NAME.pattern} and op one of {', '.join(OPS)}"
        )
    name, op, raw = m.groups()
    value = _unescape(raw, text)
    try:
        return Matcher(name, op, value)  # type: ignore[arg-type]  # op is one of OPS by the regex
    except ValueError as e:
        raise ValueError(f"invalid matcher '{text}': {e}") from None


def split_matchers(text: str) -> list[str]:
    """Split ``{a="b", c=~"d,e"}`` (braces optional) into matcher texts at commas outside quotes.

    Follows ``labels.ParseMatchers``: a trailing comma is allowed, an empty item between commas is
    kept (and fails to parse). Items are stripped of surrounding whitespace.
    """
    s = text.strip()
    if s.startswith("{") and s.endswith("}"):
        s = s[1:-1]
    tokens: list[str] = []
    token: list[str] = []
    inside = escaped = False
    for ch in s:
        if ch == "," and not inside:
            tokens.append("".join(token).strip())
            token = []
            continue
        if ch == '"':
            if escaped:
                escaped = False
            else:
                inside = not inside
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(ch)
    last = "".join(token).strip()
    if last:
        tokens.append(last)
    return tokens


def parse_matchers(text: str) -> list[Matcher]:
    """Parse a comma-separated list of matchers, with or without ``{…}``; ``""`` gives ``[]``.

    Raises ``ValueError`` (as ``parse_matcher``) for the first bad matcher.
    """
    return [parse_matcher(t) for t in split_matchers(text)]
