"""Alertmanager label matchers: ``name op "value"`` with ops ``=``, ``!=``, ``=~``, ``!~``.

Follows Alertmanager's classic grammar, ``labels.ParseMatchers`` / ``ParseMatcher`` and
``Matcher.String()`` (``pkg/labels/parse.go`` and ``pkg/labels/matcher.go``, v0.25-v0.27, which agree
for classic label names): label names match ``[a-zA-Z_:][a-zA-Z0-9_:]*``; a value is unquoted or
``"quoted"`` with the escapes ``\\"``, ``\\\\`` and ``\\n`` (any other backslash is kept
literally); an absent label matches as ``""``. A list may be written ``{a="b", c=~"d"}`` or without
braces, comma separated (commas inside quotes do not split); a leading ``{`` and a trailing ``}``
are trimmed independently, so ``{foo=bar}}`` is ``foo="bar}"``.

Regexes are compiled once, when the matcher is made, as Go's ``regexp`` compiles ``^(?:value)$``
(``receiver.rules.goregex``), so a regex Alertmanager rejects fails ``runbookd check`` rather than a
page at 3 a.m., and one it accepts matches the same values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from receiver.rules.goregex import GoRegex

Op = Literal["=", "!=", "=~", "!~"]
"""A matcher operator: equal, not equal, regex match, regex non-match."""
OPS: tuple[Op, ...] = ("=", "!=", "=~", "!~")
"""The operators, in Alertmanager's order."""

LABEL_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
"""A matcher's label name (classic grammar of parse.go); use with ``fullmatch``."""
# parse.go's own regex, compiled the way Go compiles it (\s is ASCII [\t\n\f\r ] there). '=~' and
# '!~' come before '=' and '!=' so the '~' is not taken as part of the value.
_MATCHER = GoRegex(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*")
_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\a": "\\a", "\b": "\\b",
               "\f": "\\f", "\v": "\\v"}
# Go's unicode.IsSpace, which strings.TrimSpace uses (Python's str.strip also strips \x1c-\x1f).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"


def go_quote(value: str) -> str:
    """Quote ``value`` as Go's ``%q`` / ``strconv.Quote`` does: ``a"b`` → ``"a\\"b"``.

    Printable characters (Unicode included) stay as they are; ``"`` and ``\\`` are escaped; control
    characters become ``\\n``, ``\\t``, … or ``\\xNN`` / ``\\uNNNN``. The result is unambiguous: it
    can be split on characters outside quotes. (Used for incident identity keys; a matcher prints
    with ``openmetrics_escape`` as Alertmanager does.)
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


def openmetrics_escape(value: str) -> str:
    """Escape ``value`` as matcher.go's ``openMetricsEscape``: ``\\`` → ``\\\\``, newline → ``\\n``,
    ``"`` → ``\\"``; everything else (tabs, control characters, Unicode) stays as it is."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass(frozen=True)
class Matcher:
    """One label matcher; equal matchers have equal ``(name, op, value)``.

    ``value`` is the unescaped value (for ``=~``/``!~`` the regex source). Constructing a regex
    matcher compiles it once (``GoRegex``: Go's RE2 syntax, anchored as ``^(?:value)$``); raises
    ``ValueError`` naming the regex when Alertmanager would not compile it, and for an unknown
    ``op`` or an invalid label ``name``.
    """

    name: str
    op: Op
    value: str
    _regex: GoRegex | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown matcher operator {self.op!r} (use one of {', '.join(OPS)})")
        if not LABEL_NAME.fullmatch(self.name):
            raise ValueError(f"invalid label name {self.name!r}: must match {LABEL_NAME.pattern}")
        if self.op in ("=~", "!~"):
            try:
                compiled = GoRegex(self.value)
            except ValueError as e:
                raise ValueError(f"bad regex {go_quote(self.value)}: {e}") from None
            object.__setattr__(self, "_regex", compiled)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher; an absent label is matched as ``""``."""
        got = labels.get(self.name, "")
        if self._regex is not None:
            return self._regex.matches(got) == (self.op == "=~")
        return (got == self.value) == (self.op == "=")

    def __str__(self) -> str:
        """The form Alertmanager's ``Matcher.String()`` prints, ``name<op>"value"`` with the value
        escaped by ``openmetrics_escape``; ``parse_matcher`` reads it back to an equal matcher."""
        return f'{self.name}{self.op}"{openmetrics_escape(self.value)}"'


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """A list as Alertmanager's ``Matchers.String()`` prints it: ``{a="b",c=~"d"}`` (no spaces)."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def _unescape(raw: str, text: str) -> str:
    """parse.go's unescaping of the third token ``raw`` (quotes included) of matcher ``text``."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(body):
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
            else:  # a backslash as the last character is literal
                out.append("\\")
        elif ch == '"':
            if not quoted:
                raise ValueError(f"invalid matcher '{text}': unescaped double quote in an unquoted value")
            if i < len(body) - 1:
                raise ValueError(f"invalid matcher '{text}': unexpected text after the closing double quote")
            quoted = False  # the closing quote
        else:
            out.append(ch)
    if quoted:
        raise ValueError(f"invalid matcher '{text}': missing closing double quote")
    return "".join(out)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as ``alertname="X"``, ``service=~"risk|execution"`` or ``env!=prod``.

    Follows ``labels.ParseMatcher``: whitespace (ASCII) around each token is dropped. Raises
    ``ValueError`` whose message starts ``invalid matcher '<text>':`` and says what is wrong (bad
    format, unescaped or missing quote, bad regex).
    """
    m = _MATCHER.groups(text)
    if m is None:
        raise ValueError(
            f"invalid matcher '{text}': expected <label><op><value> with a label name matching "
            f"{LABEL_NAME.pattern} and op one of {', '.join(OPS)}"
        )
    name, op, raw = m
    value = _unescape(raw, text)
    try:
        return Matcher(name, op, value)  # type: ignore[arg-type]  # op is one of OPS by the regex
    except ValueError as e:
        raise ValueError(f"invalid matcher '{text}': {e}") from None


def split_matchers(text: str) -> list[str]:
    """Split ``{a="b", c=~"d,e"}`` (braces optional) into matcher texts at commas outside quotes.

    Exactly ``labels.ParseMatchers``: one leading ``{`` and one trailing ``}`` are trimmed, each on
    its own (before any whitespace is); ``\\"`` does not open or close quotes; a trailing comma is
    allowed, an empty item between commas is kept (and fails to parse). The last item is trimmed of
    whitespace; the others keep it (``parse_matcher`` drops it).
    """
    s = text.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside = escaped = False
    for ch in s:
        if ch == ",":
            if not inside:
                tokens.append("".join(token))
                token = []
                continue
        elif ch == '"':  # a comma inside quotes leaves `escaped` as it is, as parse.go's switch does
            if escaped:
                escaped = False
            else:
                inside = not inside
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(ch)
    last = "".join(token).strip(_GO_SPACE)
    if last:
        tokens.append(last)
    return tokens


def parse_matchers(text: str) -> list[Matcher]:
    """Parse a comma-separated list of matchers, with or without ``{…}``; ``""`` and ``{}`` give ``[]``.

    Raises ``ValueError`` (as ``parse_matcher``) for the first bad matcher.
    """
    return [parse_matcher(t) for t in split_matchers(text)]
