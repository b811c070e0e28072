"""Compiled rules and the rule set: which rule(s) an alert's labels match, and the incident identity.

Matching follows Alertmanager's route semantics: rules are tried in order; the first matching rule
wins unless it has ``continue: true``, in which case later matching rules are added too. An alert
that no rule matches is never dropped: it goes to the built-in catch-all rule (``CATCH_ALL``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from receiver.rules.matchers import Matcher, go_quote
from receiver.rules.model import EscalationPolicy, Playbook
from receiver.rules.receivers import Receiver

#: Alert names whose candidate rules ``RuleSet`` remembers (``RuleSet._candidates``).
ALERTNAME_CACHE = 4096
CATCH_ALL = "catch-all"
"""Name of the built-in rule for alerts that no rule matches (a rule file may not use it)."""


@dataclass(frozen=True)
class SourcePos:
    """Where something was defined: ``file`` as shown to users (relative to the base dir when the
    pattern was relative) and the 1-based ``line`` (0 when unknown)."""

    file: str
    line: int

    def __str__(self) -> str:
        """``file:line``, or just ``file`` when the line is unknown."""
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class CompiledRule:
    """One rule, with its matchers parsed and regexes compiled.

    ``severity`` is ``P0``–``P3``; ``group_by`` names the labels that make an incident's identity;
    ``continue_`` is the rule file's ``continue``; ``source`` is ``None`` for the built-in catch-all.
    """

    name: str
    matchers: tuple[Matcher, ...]
    severity: str
    playbook: str | None
    group_by: tuple[str, ...]
    continue_: bool
    source: SourcePos | None
    mode: str = "active"
    #: ``(time interval name, severity)`` pairs: the first interval containing the time wins.
    severity_during: tuple[tuple[str, str], ...] = ()
    rate_limit: Any = None
    cooldown: float = 0.0
    #: ``skip`` or ``run``: playbook steps while a maintenance window covers the incident.
    during_maintenance: str = "skip"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher holds for ``labels`` (a rule without matchers matches everything)."""
        return all(m.matches(labels) for m in self.matchers)

    def identity(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The ``group_by`` labels of ``labels`` (absent ones as ``""``), in ``group_by`` order."""
        return {name: labels.get(name, "") for name in self.group_by}

    def identity_key(self, labels: Mapping[str, str]) -> str:
        """A stable, unambiguous string for the incident identity of ``labels`` under this rule.

        Shape: ``<rule>|<label>="<value>",…`` with the ``group_by`` labels sorted by name and values
        quoted as Go's ``%q`` (Alertmanager's matcher form), e.g.
        ``trading-down|alertname="TradingSystemDown",job="x"``. Labels not in ``group_by`` never
        change it.
        """
        pairs = ",".join(f"{name}={go_quote(labels.get(name, ''))}" for name in sorted(set(self.group_by)))
        return f"{self.name}|{pairs}"


def catch_all_rule(severity: str) -> CompiledRule:
    """The built-in catch-all rule: no matchers, ``severity``, no playbook, ``group_by: [alertname]``."""
    return CompiledRule(
        name=CATCH_ALL,
        matchers=(),
        severity=severity,
        playbook=None,
        group_by=("alertname",),
        continue_=False,
        source=None,
    )


@dataclass(frozen=True)
class RuleSet:
    """The merged, validated content of all rule files; immutable (replaced whole on reload).

    ``playbooks`` and ``receivers`` are keyed by name, ``escalation_policies`` by severity
    (``P0``..``P3``); ``version`` is the first 12 hex digits of a sha256 over the files' names and
    bytes in load order; ``files`` are the files in load order, as shown to users.
    """

    rules: tuple[CompiledRule, ...]
    playbooks: Mapping[str, Playbook]
    receivers: Mapping[str, Receiver]
    escalation_policies: Mapping[str, EscalationPolicy]
    version: str
    files: tuple[str, ...]
    default_severity: str = "P3"
    #: Named Alertmanager time intervals; values have ``contains(epoch) -> bool``.
    time_intervals: Mapping[str, Any] = field(default_factory=dict)
    #: The exchange calendar (``receiver.rules.calendar.ExchangeCalendar``) of runbookd.yml, or ``None``.
    calendar: Any = None
    #: On-call schedules (``receiver.rules.schedules.Schedule``) by name.
    schedules: Mapping[str, Any] = field(default_factory=dict)
    _catch_all: CompiledRule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("playbooks", "receivers", "escalation_policies", "time_intervals", "schedules"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "_catch_all", catch_all_rule(self.default_severity))
        object.__setattr__(self, "_by_alertname", {})

    def _candidates(self, alertname: str) -> tuple[CompiledRule, ...]:
        """The rules whose ``alertname`` matchers accept ``alertname``, in rule order (cached per name).

        Most rules name their alerts, so an alert is checked against a few rules, not all of them;
        the other matchers are still checked by ``match``. The cache is bounded: past
        ``ALERTNAME_CACHE`` names it starts over.
        """
        cache: dict[str, tuple[CompiledRule, ...]] = self._by_alertname  # type: ignore[attr-defined]
        hit = cache.get(alertname)
        if hit is None:
            only = {"alertname": alertname}
            hit = tuple(r for r in self.rules if all(m.matches(only) for m in r.matchers if m.name == "alertname"))
            if len(cache) >= ALERTNAME_CACHE:
                cache.clear()
            cache[alertname] = hit
        return hit

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as its constructor's arguments (the read-only views are not picklable): the SQLite
        # ingest process receives the rule set in force instead of reading the files itself.
        return (RuleSet, (self.rules, dict(self.playbooks), dict(self.receivers), dict(self.escalation_policies),
                          self.version, self.files, self.default_severity, dict(self.time_intervals),
                          self.calendar, dict(self.schedules)))

    def match(self, labels: Mapping[str, str]) -> list[CompiledRule]:
        """The rules that apply to an alert with ``labels``, in rule order; never empty.

        The first matching rule wins unless it has ``continue: true``; then later matching rules are
        added too, until one without ``continue`` (Alertmanager route semantics). When no rule
        matches: ``[self.catch_all()]``.
        """
        out: list[CompiledRule] = []
        for rule in self._candidates(labels.get("alertname", "")):
            if rule.matches(labels):
                out.append(rule)
                if not rule.continue_:
                    break
        return out or [self._catch_all]

    def severity_at(self, rule: CompiledRule, epoch: float) -> str:
        """The rule's severity at ``epoch`` (UTC seconds): ``severity_during`` of the first time interval
        that contains it, else the rule's ``severity``."""
        for interval, severity in rule.severity_during:
            ti = self.time_intervals.get(interval)
            if ti is not None and ti.contains(epoch):
                return severity
        return rule.severity

    def in_interval(self, name: str, epoch: float) -> bool:
        """Whether the time interval ``name`` contains ``epoch``; ``KeyError`` when it is unknown."""
        return bool(self.time_intervals[name].contains(epoch))

    def catch_all(self) -> CompiledRule:
        """The built-in rule for alerts that no rule matches (name ``CATCH_ALL``, ``default_severity``)."""
        return self._catch_all

    def rule(self, name: str) -> CompiledRule | None:
        """The rule called ``name`` (``CATCH_ALL`` gives the catch-all), or ``None``."""
        if name == CATCH_ALL:
            return self._catch_all
        return next((r for r in self.rules if r.name == name), None)
