"""Rule unit tests (``runbookd test``): read a test file, and compare a case's expectations to a plan.

Pure: the only I/O is reading the test file. A plan is the JSON form that ``runbookd simulate
--format json`` prints (``receiver.simulate.plan``), so a test asserts exactly what simulate shows.
Problems in the test file itself read ``file:line: path: what is wrong``, like rule-file errors;
a failed expectation reads ``severity: expected P1, got P0``, or for lists shows both lists in full,
as ``promtool test rules`` shows ``exp`` and ``got``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from receiver.durations import format_duration
from receiver.errors import RuleFileError
from receiver.rules.unittest_model import ExpectedIncident, RuleTestCase, RuleTestFile
from receiver.rules.yamlpos import YamlSyntaxError, describe, duplicate_keys, format_path, locate, parse_yaml

_SHOWN = 5
NO_NOTIFICATIONS_WATCH = 86400.0
"""How long ``no_notifications_after`` watches when the case gives no ``until`` (seconds: a day)."""


@dataclass
class LoadedTestFile:
    """A valid test file: ``content``, its YAML ``root`` (for line numbers) and ``path`` as given."""

    path: str
    root: yaml.Node | None
    content: RuleTestFile

    def line_of(self, index: int) -> int:
        """The 1-based line of test case ``index``."""
        return locate(self.root, ("tests", index))[0]


def load_test_file(path: str) -> tuple[LoadedTestFile | None, list[RuleFileError]]:
    """Read and validate a test file; return it, or ``None`` and every error with its line."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        return None, [RuleFileError(path, 0, None, f"cannot read: {e.strerror}")]
    try:
        data, root = parse_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        return None, [RuleFileError(path, 0, None, f"not valid UTF-8 (byte {e.start})")]
    except YamlSyntaxError as e:
        return None, [RuleFileError(path, e.line, None, e.message)]
    errors = [RuleFileError(path, line, None, f"{format_path(loc)}: duplicate key '{key}' (first at line {first})"
                            if loc else f"duplicate key '{key}' (first at line {first})")
              for loc, key, line, first in duplicate_keys(root)]
    try:
        content = RuleTestFile.model_validate({} if data is None else data)
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(err.get("loc", ()))
            line, found = locate(root, loc)
            last = len(loc) - 1 if err.get("type") in ("extra_forbidden", "missing") else len(loc)
            parts = [p for i, p in enumerate(loc) if i in found and i != last]
            message = describe(err)
            errors.append(RuleFileError(path, line, None, f"{format_path(parts)}: {message}" if parts else message))
        return None, errors
    if errors:
        return None, errors
    return LoadedTestFile(path, root, content), []


def horizon(case: RuleTestCase) -> float:
    """How far (seconds from the case's start) the case runs: ``until``, else the latest offset it
    mentions (alerts, ``ack_at``, expected notifications), or a day after ``no_notifications_after``."""
    if case.until is not None:
        return case.until
    times = [0.0] + ([case.ack_at] if case.ack_at is not None else [])
    for a in case.alerts:
        times += [t for t in (a.at, a.resolved_at) if t is not None]
    for exp in case.expected():
        times += [n.at for n in exp.notifications or ()]
        if exp.no_notifications_after is not None:
            times.append(exp.no_notifications_after + NO_NOTIFICATIONS_WATCH)
    return max(times)


def compare(case: RuleTestCase, plan: dict[str, Any]) -> list[str]:
    """Every way ``plan`` differs from what ``case`` expects, as messages (empty: the case passes)."""
    got = plan["incidents"]
    expected = case.expected()
    failures: list[str] = []
    if len(got) != len(expected):
        rules = ", ".join(f"'{i['rule']}'" for i in got) or "none"
        failures.append(f"incidents: expected {len(expected)}, got {len(got)} (rules: {rules})")
    single = len(expected) == 1 and len(got) == 1
    for n, (exp, inc) in enumerate(zip(expected, got, strict=False), 1):
        prefix = "" if single else f"incident {n} (rule '{inc['rule']}'): "
        failures += [prefix + f for f in _compare_incident(exp, inc)]
    return failures


def _compare_incident(exp: ExpectedIncident, inc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    given = exp.model_fields_set
    playbook = inc["playbook"]["name"] if inc["playbook"] else None
    for key, want, have in (("rule", exp.rule, inc["rule"]), ("severity", exp.severity, inc["severity"]),
                            ("incident", exp.incident, inc["identity"]), ("playbook", exp.playbook, playbook),
                            ("status", exp.status, inc["status"])):
        if key in given and want != have:
            out.append(f"{key}: expected {_show(want)}, got {_show(have)}")
    if exp.steps is not None:
        out += _compare_steps(exp, inc)
    sent = inc["notifications"]
    if exp.notifications is not None:
        want_rows = sorted((n.at, n.kind, n.receiver) for n in exp.notifications)
        have_rows = sorted((n["seconds"], n["kind"], n["receiver"]) for n in sent)
        if want_rows != have_rows:
            out.append("notifications:\n    expected:\n" + _rows(want_rows) + "\n    got:\n" + _rows(have_rows))
    if exp.no_notifications_after is not None:
        late = sorted((n["seconds"], n["kind"], n["receiver"]) for n in sent
                      if n["seconds"] > exp.no_notifications_after)
        if late:
            more = f"\n      ... and {len(late) - _SHOWN} more" if len(late) > _SHOWN else ""
            out.append(f"no_notifications_after {format_duration(exp.no_notifications_after)}: got\n"
                       + _rows(late[:_SHOWN]) + more)
    return out


def _compare_steps(exp: ExpectedIncident, inc: dict[str, Any]) -> list[str]:
    steps = inc["playbook"]["steps"] if inc["playbook"] else []
    assert exp.steps is not None
    want, have = [s.name for s in exp.steps], [s["name"] for s in steps]
    if want != have:
        return [f"steps: expected {_show(want)}, got {_show(have)}"]
    out = []
    for e, g in zip(exp.steps, steps, strict=True):
        where = f"steps[{g['index']}] '{g['name']}'"
        if e.action is not None and e.action != g["action"]:
            out.append(f"{where}: action: expected {_show(e.action)}, got {_show(g['action'])}")
        if e.outcome is not None and e.outcome != g.get("result", "ok"):
            out.append(f"{where}: outcome: expected {e.outcome}, got {g.get('result', 'ok')} ({g.get('outcome', '')})")
        if e.params is not None:
            if g.get("error"):
                out.append(f"{where}: rendering failed: {g['error']}")
                continue
            for path, w, h in _subset(e.params, g["params"] or {}, ("params",)):
                out.append(f"{where}: {format_path(path)}: expected {_show(w)}, "
                           f"got {h if h is _ABSENT else _show(h)}")
    return out


class _Absent:
    def __repr__(self) -> str:
        return "nothing (no such parameter)"

    __str__ = __repr__


_ABSENT = _Absent()


def _subset(want: Any, have: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any, Any]]:
    """Differences where ``want`` is not contained in ``have`` (mappings key by key, the rest by equality)."""
    if isinstance(want, dict) and isinstance(have, dict):
        out: list[tuple[tuple[str, ...], Any, Any]] = []
        for key, value in want.items():
            sub = (*path, str(key))
            out += [(sub, value, _ABSENT)] if key not in have else _subset(value, have[key], sub)
        return out
    return [] if want == have else [(path, want, have)]


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _rows(rows: list[tuple[float, str, str]]) -> str:
    if not rows:
        return "      (none)"
    return "\n".join(f"      +{format_duration(at):<7} {kind:<8} {receiver}" for at, kind, receiver in rows)
