"""Cross-file checks of validated rule files, merged in load order into rules, playbooks, receivers
and escalation policies.

Each problem is a ``RuleFileError`` at the file and line of the offending item; see
``receiver.rules.loader.check_rule_files`` for the list of checks and warnings.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from receiver.errors import RuleFileError
from receiver.rules.calendar import BUILTIN
from receiver.rules.filters import FILTERS
from receiver.rules.matchers import Matcher, parse_matchers
from receiver.rules.model import SEVERITIES, EscalationPolicy, Playbook, RuleFile
from receiver.rules.receivers import PagerDutyReceiver, PagerDutyTarget, Receiver
from receiver.rules.ruleset import CATCH_ALL, CompiledRule, SourcePos
from receiver.rules.schedule_checks import check_schedule
from receiver.rules.yamlpos import Loc, format_path, locate

GROUP_BY_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
"""A ``group_by`` label name: Prometheus' ``model.LabelName`` (no colon, unlike matcher names)."""
TEMPLATE_NAMES = frozenset({"alert", "incident", "vars", "secrets", "steps"})
"""The variables step templates see (``receiver.playbooks.render.template_context``); any other name
is a typo that would render as an empty string."""
# Step fields that select behaviour rather than carry a rendered parameter.
_NOT_TEMPLATES = frozenset({"name", "action", "method", "level", "timeout"})


@dataclass
class ParsedFile:
    """A rule file that parsed and validated: ``name`` as shown, its YAML ``root`` and ``content``."""

    name: str
    root: yaml.Node | None
    content: RuleFile

    def pos(self, loc: Loc) -> SourcePos:
        """The position of the node at ``loc`` (or its nearest enclosing node)."""
        return SourcePos(self.name, locate(self.root, loc)[0])

    def error(self, item: Loc, path: Loc, owner: str | None, message: str) -> RuleFileError:
        """A ``RuleFileError`` at ``item + path``, the message prefixed with ``path`` as users write it."""
        prefix = f"{format_path(path)}: " if path else ""
        return RuleFileError(self.name, self.pos((*item, *path)).line, owner, prefix + message)


def _needs_calendar(name: str) -> str:
    return " (built-in: set calendar: in runbookd.yml, e.g. calendar: XNYS)" if name in BUILTIN else ""


@dataclass
class Merged:
    """The result of ``merge``: what the rule set is built from, plus errors and warnings."""

    rules: list[CompiledRule] = field(default_factory=list)
    playbooks: dict[str, Playbook] = field(default_factory=dict)
    receivers: dict[str, Receiver] = field(default_factory=dict)
    policies: dict[str, EscalationPolicy] = field(default_factory=dict)
    time_intervals: dict[str, Any] = field(default_factory=dict)
    schedules: dict[str, Any] = field(default_factory=dict)
    errors: list[RuleFileError] = field(default_factory=list)
    warnings: list[RuleFileError] = field(default_factory=list)


def merge(
    files: Sequence[ParsedFile], *, default_severity: str, routing_keys: Collection[str] | None,
    builtin_intervals: Mapping[str, Any] | None = None,
) -> Merged:
    """Merge ``files`` in order and run every cross-file check; never raises for bad content.

    ``builtin_intervals``: time intervals that exist without a rule file (the exchange calendar's
    ``market_hours`` …); a rule file may not define one of those names.
    """
    m = Merged()
    m.time_intervals.update(builtin_intervals or {})
    firsts: dict[tuple[str, str], SourcePos] = {}

    def first(f: ParsedFile, kind: str, name: str, item: Loc) -> bool:
        """Record the first definition of ``name``; report a later one as a duplicate."""
        if (kind, name) in firsts:
            what = f"escalation policy for {name}" if kind == "policy" else f"{kind} name"
            message = f"duplicate {what} (first defined at {firsts[kind, name]})"
            m.errors.append(f.error(item, (), name, message))
            return False
        firsts[kind, name] = f.pos(item)
        return True

    env = SandboxedEnvironment()
    env.filters.update(FILTERS)
    for f in files:
        for name, playbook in f.content.playbooks.items():
            if first(f, "playbook", name, ("playbooks", name)):
                m.playbooks[name] = playbook
            _check_playbook(f, name, playbook, env, m.errors)
            check_http_urls(f, name, playbook, env, m.errors)
        for i, receiver in enumerate(f.content.receivers):
            if first(f, "receiver", receiver.name, ("receivers", i)):
                m.receivers[receiver.name] = receiver
            _check_receiver(f, i, receiver, routing_keys, m.errors)
        for severity, policy in f.content.escalation_policies.items():
            if first(f, "policy", severity, ("escalation_policies", severity)):
                m.policies[severity] = policy
        for i, ti in enumerate(f.content.time_intervals):
            if ti.name in BUILTIN:
                m.errors.append(f.error(("time_intervals", i), ("name",), None,
                                        f"'{ti.name}' is a built-in time interval of the exchange calendar"))
            elif first(f, "time interval", ti.name, ("time_intervals", i)):
                m.time_intervals[ti.name] = ti
            m.warnings += _empty_interval_fields(f, i)
    for f in files:
        for i, rule in enumerate(f.content.rules):
            for name in rule.severity_during:
                if name not in m.time_intervals:
                    m.errors.append(f.error(("rules", i), ("severity_during", name), rule.name,
                                            f"unknown time interval '{name}'{_needs_calendar(name)}"))
        for pname, playbook in f.content.playbooks.items():
            steps: list[tuple[Loc, Any]] = [(("steps", j), s) for j, s in enumerate(playbook.steps)]
            steps += [(("on_resolved", "steps", j), s) for j, s in enumerate(playbook.on_resolved.steps)]
            for path, step in steps:
                ti_name = step.when.time_interval if step.when else None
                if ti_name is not None and ti_name not in m.time_intervals:
                    m.errors.append(f.error(("playbooks", pname), (*path, "when", "time_interval"), pname,
                                            f"unknown time interval '{ti_name}'{_needs_calendar(ti_name)}"))
                for r in getattr(step, "notify", None) or []:
                    if isinstance(r, str) and r not in m.receivers:
                        m.errors.append(f.error(("playbooks", pname), (*path, "notify"), pname,
                                                f"unknown receiver '{r}'"))
                appr = step.approval.notify if step.approval else []
                for r in appr:
                    if r not in m.receivers:
                        m.errors.append(f.error(("playbooks", pname), (*path, "approval", "notify"), pname,
                                                f"unknown receiver '{r}'"))
            for r in playbook.on_resolved.notify:
                if r not in m.receivers:
                    m.errors.append(f.error(("playbooks", pname), ("on_resolved", "notify"), pname,
                                            f"unknown receiver '{r}'"))
    for f in files:
        for severity, policy in f.content.escalation_policies.items():
            _check_policy(f, severity, policy, m.receivers, m.errors)
            for si, st in enumerate(policy.steps):
                m.errors += [f.error(("escalation_policies", severity), ("steps", si, "mute_time_intervals"), severity,
                                     f"unknown time interval '{n}'{_needs_calendar(n)}")
                             for n in st.mute_time_intervals if n not in m.time_intervals]
        for ri, rcv in enumerate(f.content.receivers):
            m.errors += [f.error(("receivers", ri), ("mute_time_intervals",), rcv.name,
                                 f"unknown time interval '{n}'{_needs_calendar(n)}")
                         for n in rcv.mute_time_intervals if n not in m.time_intervals]
        for i in range(len(f.content.rules)):
            _check_rule(f, i, m, firsts)
    for f in files:
        for i, schedule in enumerate(f.content.schedules):
            if first(f, "schedule", schedule.name, ("schedules", i)):
                m.schedules[schedule.name] = schedule
            m.errors += check_schedule(f, i, schedule, m.time_intervals)
    m.warnings += _shadowed(m.rules)
    m.warnings += _missing_policies(m, default_severity, files[0].name if files else "rule_files")
    return m


def _check_rule(f: ParsedFile, idx: int, m: Merged, firsts: dict[tuple[str, str], SourcePos]) -> None:
    rule = f.content.rules[idx]
    item: Loc = ("rules", idx)
    errors: list[RuleFileError] = []

    def bad(path: Loc, message: str) -> None:
        errors.append(f.error(item, path, rule.name, message))

    if rule.name == CATCH_ALL:
        bad(("name",), f"'{CATCH_ALL}' is reserved for the built-in rule of unmatched alerts")
    elif ("rule", rule.name) in firsts:
        bad((), f"duplicate rule name (first defined at {firsts['rule', rule.name]})")
    else:
        firsts["rule", rule.name] = f.pos(item)
    matchers: list[Matcher] = []
    for i, text in enumerate(rule.matchers):
        try:
            parsed = parse_matchers(text)
        except ValueError as e:
            bad(("matchers", i), str(e))
            continue
        if not parsed:
            bad(("matchers", i), "empty matcher")
        matchers += parsed
    if rule.playbook is not None and rule.playbook not in m.playbooks:
        bad(("playbook",), f"unknown playbook '{rule.playbook}'")
    for i, label in enumerate(rule.group_by):
        if not GROUP_BY_LABEL.fullmatch(label):
            bad(("group_by", i), f"invalid label name '{label}': must match {GROUP_BY_LABEL.pattern}")
        elif label in rule.group_by[:i]:
            bad(("group_by", i), f"duplicate label '{label}'")
    m.errors += errors
    if not errors:
        m.rules.append(
            CompiledRule(
                name=rule.name,
                matchers=tuple(matchers),
                severity=rule.severity,
                playbook=rule.playbook,
                group_by=tuple(rule.group_by),
                continue_=rule.continue_,
                source=f.pos(item),
                mode=rule.mode,
                severity_during=tuple(rule.severity_during.items()),
                rate_limit=rule.rate_limit,
                cooldown=rule.cooldown,
                during_maintenance=rule.during_maintenance,
            )
        )


def _template_strings(value: Any, path: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _template_strings(inner, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            yield from _template_strings(inner, (*path, i))
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            if name not in _NOT_TEMPLATES:
                yield from _template_strings(getattr(value, name), (*path, info.alias or name))


def _check_playbook(
    f: ParsedFile, name: str, playbook: Playbook, env: SandboxedEnvironment, errors: list[RuleFileError]
) -> None:
    item: Loc = ("playbooks", name)
    for where, steps in ((("steps",), playbook.steps), (("on_resolved", "steps"), playbook.on_resolved.steps)):
        seen: dict[str, int] = {}
        for i, step in enumerate(steps):
            if step.name in seen:
                first = f.pos((*item, *where, seen[step.name]))
                message = f"duplicate step name '{step.name}' (first defined at {first})"
                errors.append(f.error(item, (*where, i, "name"), name, message))
            else:
                seen[step.name] = i
            for path, text in _template_strings(step, ()):
                problem = _template_problem(env, step.name, text)
                if problem:
                    errors.append(f.error(item, (*where, i, *path), name, problem))


def check_http_urls(
    f: ParsedFile, name: str, playbook: Playbook, env: SandboxedEnvironment, errors: list[RuleFileError]
) -> None:
    """Refuse an ``http`` step whose ``url`` template lets something other than fixed text and ``vars``
    choose the scheme, host or port (``url_origin_problem``): the allow-list of ``actions.http``
    then holds at run time, and a label can only land in the path, the query or the fragment. A url with
    a template error is reported once, by ``_check_playbook``."""
    item: Loc = ("playbooks", name)
    for where, steps in ((("steps",), playbook.steps), (("on_resolved", "steps"), playbook.on_resolved.steps)):
        for i, step in enumerate(steps):
            url = getattr(step, "url", None)
            if step.action == "http" and isinstance(url, str) and _template_problem(env, step.name, url) is None:
                problem = url_origin_problem(env, url)
                if problem:
                    errors.append(f.error(item, (*where, i, "url"), name, f"step '{step.name}': {problem}"))


_VAR, _DYNAMIC = object(), object()


def _is_var(node: nodes.Node) -> bool:
    """``vars.name`` or ``vars['name']``: a value of the deployment's config, fixed while runbookd runs."""
    if isinstance(node, nodes.Getattr):
        return isinstance(node.node, nodes.Name) and node.node.name == "vars"
    if isinstance(node, nodes.Getitem):
        return (isinstance(node.node, nodes.Name) and node.node.name == "vars"
                and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str))
    return False


def url_origin_problem(env: SandboxedEnvironment, text: str) -> str | None:
    """Why the scheme, host or port of the URL template ``text`` may depend on more than fixed text and
    ``{{ vars.<name> }}`` (a label, ``incident``, ``secrets``, a filter, a ``{% %}`` block), or ``None``.

    The origin is fixed when every piece of the template before its first other expression is text or a
    ``vars`` value, and that text ends the authority: a ``/``, ``?`` or ``#`` after the ``scheme://``
    (or, for a URL that starts with a ``vars`` value, anywhere after it). A syntax error is left to the
    template check (``None``).
    """
    try:
        body = env.parse(text).body
    except TemplateSyntaxError:
        return None
    pieces: list[object] = []
    for node in body:
        children = node.nodes if isinstance(node, nodes.Output) else [node]
        for child in children:
            if isinstance(child, nodes.TemplateData):
                pieces.append(child.data)
            elif _is_var(child):
                pieces.append(_VAR)
            else:
                pieces.append(_DYNAMIC)
                break
        if pieces and pieces[-1] is _DYNAMIC:
            break
    if not pieces or pieces[-1] is not _DYNAMIC:
        return None
    skeleton = "".join("\0" if p is _VAR else str(p) for p in pieces[:-1])
    if skeleton.startswith("\0"):
        authority = skeleton.lstrip("\0")
    elif "://" in skeleton:
        authority = skeleton.split("://", 1)[1]
    else:
        authority = None
    if authority is not None and any(c in authority for c in "/?#"):
        return None
    return ("url: its scheme, host and port must be fixed text or {{ vars.<name> }}: a template before the "
            "first '/' of the path could send the request anywhere (put labels in the path with "
            "'| path_segment', in the query or in the body)")


def _template_problem(env: SandboxedEnvironment, step: str, text: str) -> str | None:
    """Why ``text`` cannot be a step template (syntax, or a variable templates do not see), or ``None``."""
    try:
        unknown = sorted(meta.find_undeclared_variables(env.parse(text)) - TEMPLATE_NAMES - set(env.globals))
        env.compile(text)
    except TemplateSyntaxError as e:
        at = f" (line {e.lineno} of the template)" if e.lineno and e.lineno > 1 else ""
        return f"template syntax error in step '{step}'{at}: {e.message}"
    if unknown:
        known = ", ".join(sorted(TEMPLATE_NAMES))
        return f"template of step '{step}' uses unknown variable(s) {', '.join(unknown)} (templates see {known})"
    return None


def _check_receiver(
    f: ParsedFile, idx: int, receiver: Receiver, routing_keys: Collection[str] | None,
    errors: list[RuleFileError],
) -> None:
    item: Loc = ("receivers", idx)
    pd = receiver.target if isinstance(receiver, PagerDutyReceiver) else None
    if isinstance(pd, PagerDutyTarget) and routing_keys is not None and pd.routing_key not in routing_keys:
        known = ", ".join(sorted(routing_keys)) or "none"
        errors.append(f.error(item, ("pagerduty", "routing_key"), receiver.name,
                              f"unknown routing key '{pd.routing_key}' (configured: {known})"))


def _check_policy(
    f: ParsedFile, severity: str, policy: EscalationPolicy, receivers: dict[str, Receiver],
    errors: list[RuleFileError],
) -> None:
    item: Loc = ("escalation_policies", severity)
    targets: list[tuple[Loc, str]] = []
    for i, step in enumerate(policy.steps):
        targets += [(("steps", i, "notify", j), r) for j, r in enumerate(step.notify)]
    if policy.updates is not None:
        targets += [(("updates", "notify", j), r) for j, r in enumerate(policy.updates.notify)]
    if policy.digest is not None:
        targets += [(("digest", "notify", j), r) for j, r in enumerate(policy.digest.notify)]
        try:
            ZoneInfo(policy.digest.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(f.error(item, ("digest", "timezone"), severity,
                                  f"unknown time zone '{policy.digest.timezone}'"))
    for path, name in targets:
        if name not in receivers:
            errors.append(f.error(item, path, severity, f"unknown receiver '{name}'"))


_RANGE_FIELDS = ("times", "weekdays", "days_of_month", "months", "years")


def _empty_interval_fields(f: ParsedFile, idx: int) -> Iterator[RuleFileError]:
    """A warning for each explicitly empty list in a time range: as in Alertmanager it never matches."""
    ti = f.content.time_intervals[idx]
    for j, tr in enumerate(ti.time_intervals):
        for name in _RANGE_FIELDS:
            if getattr(tr, name) == []:
                yield f.error(("time_intervals", idx), ("time_intervals", j, name), ti.name,
                              f"'{name}: []' never matches (as in Alertmanager), so this range contains no "
                              f"time; omit '{name}' to mean any")


def _shadowed(rules: Sequence[CompiledRule]) -> Iterator[RuleFileError]:
    for j, later in enumerate(rules):
        for earlier in rules[:j]:
            if not earlier.continue_ and set(earlier.matchers) <= set(later.matchers):
                at = later.source or SourcePos(CATCH_ALL, 0)
                yield RuleFileError(at.file, at.line, later.name,
                                    f"unreachable: shadowed by rule '{earlier.name}' ({earlier.source})")
                break


def _missing_policies(m: Merged, default_severity: str, first_file: str) -> Iterator[RuleFileError]:
    for severity in SEVERITIES:
        if severity in m.policies:
            continue
        user = next((r for r in m.rules if r.severity == severity), None)
        if user is not None and user.source is not None:
            yield RuleFileError(user.source.file, user.source.line, user.name,
                                f"severity {severity} has no escalation policy: its incidents notify nobody")
        elif severity == default_severity:
            yield RuleFileError(first_file, 0, CATCH_ALL, f"severity {severity} (default_severity) has no "
                                "escalation policy: unmatched alerts notify nobody")
