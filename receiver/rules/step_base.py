"""The base of every rule-file model and of every playbook step (shared by ``model`` and ``steps_more``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from receiver.durations import parse_duration
from receiver.rules.safety import Approval, OnFailure, Precondition, RateLimit

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Step(_Strict):
    name: Name
    timeout: Seconds = 10.0
    approval: Approval | None = None
    when: Precondition | None = None
    on_failure: OnFailure | None = None
    rate_limit: RateLimit | None = None
    destructive: bool | None = Field(default=None, description="counts against the global destructive budget")
    idempotent: bool | None = Field(default=None, description="safe to retry after a crash (default: the action's)")
