"""Rule unit-test files (``runbookd test FILE…``): pydantic models, unknown keys forbidden.

Like ``promtool test rules``: a file names the rule files under test and lists cases; each case sends
alerts at time offsets and states what must happen. Offsets are Prometheus durations from the case's
``evaluation_time`` (an absolute RFC 3339 time, so time-of-day behaviour is testable). Example::

    rule_files: [../*.yml]
    vars: {trading_api_url: http://trading.test}
    tests:
      - name: trading down halts trading and pages P0
        alerts:
          - labels: {alertname: TradingSystemDown, job: trading-engine}
            resolved_at: 20m
        ack_at: 2m
        expect:
          rule: trading-system-down
          severity: P0
          notifications:
            - {at: 0s, receiver: pagerduty-primary}
            - {at: 20m, receiver: pagerduty-primary, kind: resolve}
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from receiver.durations import parse_duration
from receiver.rules.model import Severity
from receiver.settings import CalendarConfig, Settings, _calendar

Offset = Annotated[float, BeforeValidator(parse_duration)]
DEFAULT_EVALUATION_TIME = "2026-01-05T15:00:00Z"
"""When a case starts unless it says otherwise: a Monday, 10:00 in New York (US market hours)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputAlert(_Strict):
    """One alert of a case: its firing state arrives ``at`` and, if given, its resolved state at
    ``resolved_at``. ``status: resolved`` sends only a resolved state (at ``at``). ``starts_at``
    (default ``at``) is its ``startsAt``: an alert sent again with the same labels and ``starts_at``
    is the same alert, as when Alertmanager re-sends it. ``fingerprint`` defaults to Alertmanager's."""

    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    status: Literal["firing", "resolved"] = "firing"
    at: Offset = 0.0
    resolved_at: Offset | None = None
    starts_at: Offset | None = None
    fingerprint: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _order(self) -> InputAlert:
        if self.resolved_at is not None and self.status == "resolved":
            raise ValueError("resolved_at is for a firing alert; a resolved one arrives at 'at'")
        if self.resolved_at is not None and self.resolved_at < self.at:
            raise ValueError("resolved_at must not be before at")
        return self


class ExpectedStep(_Strict):
    """A playbook step: its ``name``, optionally its ``action``, some of its rendered ``params``
    (each key given must equal the rendered value; mappings are compared key by key, recursively) and
    its ``outcome`` in the plan (``ok``, ``skipped``, ``rejected``, ``failed``)."""

    name: str
    action: str | None = None
    params: dict[str, Any] | None = None
    outcome: Literal["ok", "skipped", "rejected", "failed"] | None = None


class GivenResult(_Strict):
    """A step's result stated by a case (``results:``): what the step returned instead of running it.
    Later steps' templates and conditions see it as ``steps.NAME.result``; ``failed`` applies the
    step's ``on_failure``."""

    outcome: Literal["ok", "failed", "skipped"] = "ok"
    summary: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class ExpectedNotification(_Strict):
    """A notification sent ``at`` (offset) to ``receiver``, of ``kind``: ``page`` (an escalation step),
    ``update`` (status update), ``ack``, ``resolve``, ``postmortem`` (the draft's link), ``notice`` (a
    new alert joined an acknowledged incident) — the kind of the work row that sends it."""

    at: Offset
    receiver: str
    kind: str = Field(default="page", pattern=r"^[a-z_]+$")


class ExpectedIncident(_Strict):
    """What must hold for one incident; a key left out is not checked. ``playbook: null`` means no
    playbook. ``steps`` is the whole list of steps in order. ``notifications`` is every notification
    sent up to the case's ``until``, in any order. ``no_notifications_after`` asserts that nothing is
    sent after that offset. ``status`` is the incident's status at ``until``."""

    rule: str | None = None
    severity: Severity | None = None
    incident: dict[str, str] | None = Field(default=None, description="The identity labels (group_by)")
    playbook: str | None = None
    steps: list[ExpectedStep] | None = None
    notifications: list[ExpectedNotification] | None = None
    no_notifications_after: Offset | None = None
    status: Literal["firing", "acknowledged", "resolved"] | None = None


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class RuleTestCase(_Strict):
    """One case: ``alerts`` in, ``expect`` out. ``expect`` is one incident, or the list of every
    incident opened in order (``[]``: none). ``ack_at`` acknowledges every firing incident at that
    offset. ``approvals`` and ``results`` state what people answer and what steps return (by step
    name), so the case can assert what follows: a rejection's page, a branch taken or not. ``until``
    is how far the case runs (default: the latest offset it mentions, or a day after
    ``no_notifications_after``)."""

    name: str = Field(min_length=1)
    alerts: list[InputAlert] = Field(min_length=1)
    evaluation_time: AwareDatetime | None = None
    ack_at: Offset | None = None
    until: Offset | None = None
    approvals: dict[str, Literal["approved", "rejected", "timed_out"]] = Field(
        default_factory=dict, description="step name → the answer to its approval (default: approved)")
    results: dict[str, GivenResult] = Field(
        default_factory=dict, description="step name → its result (default: ok, with no data)")
    expect: Annotated[list[ExpectedIncident], BeforeValidator(
        _as_list, json_schema_input_type=ExpectedIncident | list[ExpectedIncident])]

    def expected(self) -> list[ExpectedIncident]:
        """The expected incidents, in order of opening."""
        return self.expect


class RuleTestFile(_Strict):
    """The top level of a rule unit-test file. ``rule_files`` are globs relative to the test file;
    ``vars`` are the template ``vars`` (every ``secrets.x`` renders as ``<redacted>``);
    ``default_severity``, ``reopen_window``, ``external_url`` and ``calendar`` (``XNYS``: the exchange
    calendar's ``market_hours`` …) stand in for runbookd.yml's."""

    rule_files: list[str] = Field(min_length=1)
    evaluation_time: AwareDatetime = Field(default_factory=lambda: datetime.fromisoformat(DEFAULT_EVALUATION_TIME))
    default_severity: Severity = Settings.model_fields["default_severity"].default
    reopen_window: Offset = Settings.model_fields["reopen_window"].default
    external_url: str = Settings.model_fields["external_url"].default
    calendar: Annotated[CalendarConfig | None, BeforeValidator(_calendar)] = None
    vars: dict[str, str] = Field(default_factory=dict)
    tests: list[RuleTestCase] = Field(min_length=1)
