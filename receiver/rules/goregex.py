"""Regexes compiled and matched as Alertmanager does: Go's ``regexp`` package, RE2 syntax.

Alertmanager (``pkg/labels/matcher.go``, ``NewMatcher``) compiles a ``=~``/``!~`` value ``v`` as
``regexp.Compile("^(?:" + v + ")$")`` and matches with ``MatchString``. This module does exactly
that with Google's RE2 (the ``google-re2`` binding of the C++ library Go's package was ported from),
in its default Perl-like mode (``posix_syntax`` and ``longest_match`` off, UTF-8), so POSIX classes,
``\\pL``, ``\\p{Greek}``, ``\\z``, ``\\Q…\\E``, flags in mid-pattern, ``(?U)``, ASCII-only ``\\d \\w
\\s``, a literal ``a{,2}`` and the 1000 repeat limit all behave as in Go.

Where C++ RE2 accepts what Go rejects, ``_go_rejects`` refuses it first (checked against the real
``amtool check-config`` 0.25, Go's Unicode 13 tables):

- ``\\C`` (any byte): Go's parser has no such escape.
- ``(?<name>…)``: accepted only by Go 1.22+ (Alertmanager 0.28+); write ``(?P<name>…)``.
- a capture group name outside ``[A-Za-z0-9_]``.
- ``\\p{…}`` scripts added in Unicode 14 and later, which Go 1.20's tables do not know.

Known remaining differences (documented in docs/rules.md): Go's nesting-depth limit ("expression
nests too deeply", about 1000 levels of tree height) and Go's and RE2's program-size limits are
counted differently, so a pattern at those extremes may be accepted by one and not the other.
"""

from __future__ import annotations

import re2  # type: ignore[import-untyped]  # google-re2 ships no type hints

_OPTIONS = re2.Options()
# Go's regexp.Compile: Perl-like syntax (\d, \pL, (?i) ...) and leftmost-first matching, over UTF-8.
# These are RE2's defaults; set here so a change of default cannot change what a rule file means.
_OPTIONS.posix_syntax = False
_OPTIONS.longest_match = False
_OPTIONS.encoding = re2.Options.Encoding.UTF8
_OPTIONS.log_errors = False  # errors are raised (and reported by `check`), not printed to stderr
# RE2's default 8 MiB refuses e.g. \pL{1000}, which Go compiles (Go's own limit is about 3.3M
# instructions); 64 MiB admits every single Unicode class repeated 1000 times.
_OPTIONS.max_mem = 64 << 20

# Scripts newer than Unicode 13 (Go 1.20's tables, Alertmanager 0.25-0.26): Go answers
# "invalid character class range", C++ RE2 knows them.
_NEWER_SCRIPTS = frozenset({
    "Cypro_Minoan", "Old_Uyghur", "Tangsa", "Toto", "Vithkuqi",  # Unicode 14
    "Kawi", "Nag_Mundari",  # Unicode 15
    "Garay", "Gurung_Khema", "Kirat_Rai", "Ol_Onal", "Sunuwar", "Todhri", "Tulu_Tigalari",  # Unicode 16
})
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _go_rejects(pattern: str) -> str | None:
    """Why Go's regexp/syntax rejects ``pattern`` although C++ RE2 accepts it, or ``None``."""
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q" and not in_class:  # literal text up to \E (or the end)
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            if nxt == "C":
                return "invalid escape sequence: `\\C` (Go has no any-byte escape)"
            if nxt in "pP" and pattern.startswith("{", i + 2):
                end = pattern.find("}", i + 3)
                name = pattern[i + 3:end].removeprefix("^") if end > 0 else ""
                if name in _NEWER_SCRIPTS:
                    return (f"invalid character class range: `\\{nxt}{{{name}}}` (a Unicode 14+ script, "
                            "unknown to Alertmanager 0.25's Go)")
            i += 2
            continue
        if in_class:
            if ch == "[" and pattern.startswith("[:", i):  # [:alpha:] inside a class
                end = pattern.find(":]", i + 2)
                i = i + 1 if end < 0 else end + 2
                continue
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            i += 1
            if pattern.startswith("^", i):
                i += 1
            if pattern.startswith("]", i):  # a ] first in a class is literal
                i += 1
            continue
        elif pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
            return "invalid or unsupported Perl syntax: `(?<` (Go before 1.22 needs (?P<name>...))"
        elif pattern.startswith("(?P<", i):
            end = pattern.find(">", i + 4)
            name = pattern[i + 4:end] if end > 0 else ""
            if name and not set(name) <= _WORD:
                return f"invalid named capture: `(?P<{name}>` (Go allows only A-Z a-z 0-9 _ in names)"
        i += 1
    return None


class GoRegex:
    """A matcher value compiled as Alertmanager compiles it: ``^(?:value)$`` in RE2 syntax.

    Raises ``ValueError`` with the parser's reason when Go's ``regexp.Compile`` would fail.
    """

    __slots__ = ("source", "_re")

    def __init__(self, value: str) -> None:
        self.source = value
        problem = _go_rejects(value)
        if problem is not None:
            raise ValueError(problem)
        try:
            self._re = re2.compile("^(?:" + value + ")$", _OPTIONS)
        except re2.error as e:
            reason = e.args[0] if e.args else "invalid regex"
            raise ValueError(reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)) from None
        except UnicodeEncodeError:
            raise ValueError("pattern is not valid UTF-8 (it holds a lone surrogate)") from None

    def matches(self, text: str) -> bool:
        """Whether ``text`` matches, as Go's ``MatchString`` answers for the anchored pattern."""
        # Searching UTF-8 bytes skips the binding's str offset bookkeeping: about 3x faster.
        return self._re.search(_utf8(text)) is not None

    def groups(self, text: str) -> tuple[str, ...] | None:
        """The capture groups of the first match in ``text`` (Go's ``FindStringSubmatch[1:]``), or
        ``None`` when it does not match; a group that took part in no match is ``""`` as in Go."""
        m = self._re.search(_utf8(text))
        return None if m is None else tuple((g or b"").decode("utf-8") for g in m.groups())


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (JSON ``"\\ud800"``) becomes U+FFFD, as Go's JSON decoder makes it."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
