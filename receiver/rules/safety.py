"""Safety keys of rules and playbook steps: approvals, preconditions, failure handling, rate limits.

Pure pydantic models (unknown keys forbidden); durations are Prometheus durations, in seconds after
loading. Their semantics live in ``receiver.playbooks`` (see docs/playbooks.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from receiver.durations import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Severity = Literal["P0", "P1", "P2", "P3"]
_NAME = r"^[A-Za-z0-9_.:-]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RateLimit(_Strict):
    """At most ``max`` executions per ``per`` seconds (a sliding window)."""

    max: int = Field(ge=1)
    per: Seconds = Field(gt=0)


class Approval(_Strict):
    """A person must approve the step before it runs.

    ``approvers``: Slack user ids or usernames allowed to answer (empty: anyone in the channel);
    ``notify``: receivers the request is posted to (default: the incident's paged Slack receivers);
    ``timeout``: seconds to wait; ``on_timeout``: what happens then — ``approve`` for protective
    actions, ``reject`` for risky ones. It must be declared: there is no silent default.
    ``required``: distinct people who must approve (the two-person rule: 2); one rejection rejects.
    """

    approvers: list[str] = Field(default_factory=list)
    notify: list[Annotated[str, Field(pattern=_NAME)]] = Field(default_factory=list)
    timeout: Seconds = 900.0
    on_timeout: Literal["approve", "reject"]
    required: int = Field(default=1, ge=1, le=10)

    @model_validator(mode="after")
    def _enough(self) -> Approval:
        if self.approvers and self.required > len(self.approvers):
            raise ValueError(f"required: {self.required} distinct approvals, but only {len(self.approvers)} "
                             "approvers are listed")
        return self


class PositionCheck(_Strict):
    """Broker position in ``symbol`` (quantity, absolute) must be within ``[min, max]``."""

    symbol: str = Field(pattern=r"^[A-Z0-9.]{1,12}$")
    min: float | None = None
    max: float | None = None


class CountCheck(_Strict):
    """A count (open orders) must be within ``[min, max]``."""

    min: int | None = None
    max: int | None = None


class Precondition(_Strict):
    """``when:`` — the step runs only if every given check holds.

    ``time_interval`` names a ``time_intervals`` entry; ``market_open`` compares with Alpaca's clock;
    ``position`` / ``open_orders`` read the broker. ``on_error`` declares what happens when a check
    itself fails (broker unreachable): ``run`` (fail-open) or ``skip`` (fail-closed).
    """

    time_interval: Annotated[str, Field(pattern=_NAME)] | None = None
    market_open: bool | None = None
    position: PositionCheck | None = None
    open_orders: CountCheck | None = None
    on_error: Literal["run", "skip"]


class OnFailure(_Strict):
    """What a failed, skipped or rejected step does: page at once, raise the severity, stop the playbook."""

    page: bool = True
    raise_severity: Severity | None = None
    stop: bool = False
