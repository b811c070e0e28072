"""Rule-file models: what operators write in ``rules/*.yml`` (pydantic v2, unknown keys forbidden).

A rule file may hold any of ``rules``, ``playbooks``, ``receivers``, ``escalation_policies``,
``time_intervals``, ``schedules`` (``receiver.rules.schedules``); the
files named by ``rule_files`` are merged in order (names must be unique across files). Durations are
Prometheus durations and become seconds. String parameters of steps are Jinja2 templates rendered in a
sandbox over ``alert``, ``incident``, ``vars`` and ``secrets`` (see ``receiver.playbooks.render``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from receiver.rules.receivers import (  # noqa: F401  (re-exported for callers of the earlier module)
    EmailTarget,
    PagerDutyTarget,
    Receiver,
    ReceiverBase,
    SlackTarget,
)
from receiver.rules.safety import RateLimit
from receiver.rules.schedules import Schedule
from receiver.rules.step_base import Name, Seconds, _Step, _Strict
from receiver.rules.steps_more import (
    AlpacaClosePositionStep,
    AlpacaGetClockStep,
    CommandStep,
    HttpRetryAndCheck,
)
from receiver.rules.timeintervals import TimeInterval

Severity = Literal["P0", "P1", "P2", "P3"]
SEVERITIES: tuple[Severity, ...] = ("P0", "P1", "P2", "P3")


class Rule(_Strict):
    """One entry of ``rules:``: matchers → severity, playbook and incident identity."""

    name: Name
    matchers: list[str] = Field(default_factory=list, description="Alertmanager matchers; all must hold")
    severity: Severity
    playbook: Name | None = None
    group_by: list[str] = Field(default_factory=lambda: ["alertname"])
    continue_: bool = Field(default=False, alias="continue")
    mode: Literal["active", "shadow"] = Field(
        default="active", description="shadow: match, render and record everything, execute and send nothing")
    severity_during: dict[Name, Severity] = Field(
        default_factory=dict, description="time interval name → severity while the incident opens inside it")
    rate_limit: RateLimit | None = Field(default=None, description="playbook runs of this rule per window")
    cooldown: Seconds = Field(default=0.0, description="no new playbook run for the same identity within this")
    during_maintenance: Literal["skip", "run"] = Field(
        default="skip", description="playbook steps while a maintenance window covers the incident: skip "
        "(default) or run (docs/maintenance.md)")


class HttpStep(_Step, HttpRetryAndCheck):
    """``action: http`` — one HTTP request with httpx; ``url``, ``headers`` and ``json`` are templates."""

    action: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "POST"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")


class AlpacaVerify(_Strict):
    """The built-in verification of the Alpaca bulk actions: after the write, the broker is read every
    ``verify_interval`` seconds until it shows none left, for at most ``verify_timeout`` seconds; then
    the step fails (``on_failure``) naming what remained. ``verify: false`` turns it off."""

    verify: bool = True
    verify_interval: Seconds = Field(default=5.0, gt=0)
    verify_timeout: Seconds = Field(default=60.0, gt=0)


class AlpacaCancelAllOrdersStep(_Step, AlpacaVerify):
    """``action: alpaca.cancel_all_orders`` — ``DELETE /v2/orders`` through alpaca-py; verified by
    default until no order is open (``AlpacaVerify``)."""

    action: Literal["alpaca.cancel_all_orders"]


class AlpacaCloseAllPositionsStep(_Step, AlpacaVerify):
    """``action: alpaca.close_all_positions`` — ``DELETE /v2/positions`` (optionally cancelling orders);
    verified by default until no position is open (``AlpacaVerify``)."""

    action: Literal["alpaca.close_all_positions"]
    cancel_orders: bool = True


class LogStep(_Step):
    """``action: log`` — writes a rendered message to the log and the timeline; no side effect."""

    action: Literal["log"]
    message: str
    level: Literal["info", "warning", "error"] = "info"


class WaitForResolvedStep(_Step):
    """``action: wait_for_resolved`` — wait up to ``duration`` for the incident to resolve, else fail.

    Failing feeds escalation (``on_failure``, by default paging at once). Nothing is held while it
    waits: the step row sleeps in the store.
    """

    action: Literal["wait_for_resolved"]
    duration: Seconds


class WaitStep(_Step):
    """``action: wait`` — a durable timer: the playbook goes on after
    ``duration`` seconds. The row sleeps in the store with its due time; a restart keeps the wait."""

    action: Literal["wait"]
    duration: Seconds = Field(gt=0)


class NotifyStep(_Step):
    """``action: notify`` — send ``message`` (a template) to ``notify`` receivers now; with ``report:
    true`` the message is seed 003's INCIDENT REPORT (``report.txt.j2`` over the incident's timeline so
    far), after ``message`` when one is given."""

    action: Literal["notify"]
    notify: list[Name] = Field(min_length=1)
    message: str = ""
    report: bool = Field(default=False, description="send the INCIDENT REPORT (report.txt.j2)")


Step = Annotated[
    HttpStep | AlpacaCancelAllOrdersStep | AlpacaCloseAllPositionsStep | AlpacaClosePositionStep
    | AlpacaGetClockStep | CommandStep | LogStep | WaitForResolvedStep | WaitStep | NotifyStep,
    Field(discriminator="action"),
]

#: The step models themselves (``Step`` without its discriminator annotation), for type hints.
StepModel = (HttpStep | AlpacaCancelAllOrdersStep | AlpacaCloseAllPositionsStep | AlpacaClosePositionStep
             | AlpacaGetClockStep | CommandStep | LogStep | WaitForResolvedStep | WaitStep | NotifyStep)


@cache
def _step_adapter() -> TypeAdapter[StepModel]:
    """The ``Step`` union's validator, built once."""
    adapter: TypeAdapter[StepModel] = TypeAdapter(Step)
    return adapter


def parse_step(raw: Mapping[str, Any]) -> StepModel:
    """Parse one stored step (a ``model_dump(mode="json", by_alias=True)`` dict from a work row's
    ``payload["steps"]``) back into its step model. Raises ``pydantic.ValidationError`` for an unknown
    ``action`` or a key the models do not (or no longer) have."""
    return _step_adapter().validate_python(dict(raw))


def dump_step(step: StepModel) -> dict[str, Any]:
    """A step as work rows store it: JSON types, keys as written in rule files (``if``, ``json``)."""
    return step.model_dump(mode="json", by_alias=True)


class OnResolved(_Strict):
    """``on_resolved:`` — what resolving does. Resolved is not undo: halts and flattening stay done.

    ``notify``: receivers told that protective actions stay in force until a person re-arms;
    ``steps``: explicit steps (e.g. a log or a notify), run once per resolution.
    """

    notify: list[Name] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)


class Playbook(_Strict):
    """One entry of ``playbooks:`` — ordered steps, run once per incident."""

    description: str = ""
    steps: list[Step] = Field(min_length=1)
    on_resolved: OnResolved = OnResolved()


class EscalationStep(_Strict):
    """Notify ``notify`` receivers ``after`` seconds from the incident's start unless acknowledged."""

    after: Seconds = 0.0
    notify: list[Name] = Field(min_length=1)
    mute_time_intervals: list[Name] = Field(
        default_factory=list, description="time intervals during which this step's pages wait "
        "(Alertmanager's mute_time_intervals; docs/maintenance.md)")


class StatusUpdates(_Strict):
    """Post a status update to ``notify`` every ``every`` seconds until resolved."""

    every: Seconds
    notify: list[Name] = Field(min_length=1)


class DailyDigest(_Strict):
    """Once a day at ``at`` (``HH:MM`` in ``timezone``), send ``notify`` one digest of the day's incidents."""

    at: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    timezone: str = "UTC"
    notify: list[Name] = Field(min_length=1)


class EscalationPolicy(_Strict):
    """One entry of ``escalation_policies:`` (keyed by severity)."""

    respond_within: Seconds | None = Field(
        default=None, description="response target: acknowledged within this from the opening, else a breach "
        "escalates to the next step at once (receiver.escalation.targets)")
    steps: list[EscalationStep] = Field(default_factory=list)
    silence_on_ack: bool = Field(
        default=False, description="acknowledging creates an Alertmanager silence of the incident's identity "
        "labels, expired when it resolves (needs alertmanager.urls in runbookd.yml; docs/maintenance.md)")
    updates: StatusUpdates | None = None
    digest: DailyDigest | None = None


class RuleFile(_Strict):
    """The top level of one rule file."""

    rules: list[Rule] = Field(default_factory=list)
    playbooks: dict[Name, Playbook] = Field(default_factory=dict)
    receivers: list[Receiver] = Field(default_factory=list)
    escalation_policies: dict[Severity, EscalationPolicy] = Field(default_factory=dict)
    time_intervals: list[TimeInterval] = Field(default_factory=list)
    schedules: list[Schedule] = Field(default_factory=list, description="on-call rotations (docs/escalation.md)")
