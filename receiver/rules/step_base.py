"""The base of every rule-file model and of every playbook step (shared by ``model`` and ``steps_more``).

Besides the safety keys (``receiver.rules.safety``), every step may carry ``if`` (a condition: the step
runs only when it holds), ``until`` (verify until done: the step's read or the step itself is repeated
until a condition over its result holds) and ``on_skip`` (what a skip by ``when``/``if`` does).
Conditions are Jinja2 expressions evaluated in the sandbox (``receiver.playbooks.conditions``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from receiver.durations import parse_duration
from receiver.rules.safety import Approval, OnFailure, Precondition, RateLimit

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _expression(text: str) -> str:
    """Refuse a condition that does not compile as a Jinja2 expression (at load time, not mid-incident)."""
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    if "{{" in text or "{%" in text:
        raise ValueError(f"a condition is an expression, without {{{{ }}}}: {text!r}")
    try:
        SandboxedEnvironment().compile_expression(text)
    except TemplateSyntaxError as e:
        raise ValueError(f"condition {text!r} does not compile: {e}") from e
    return text


Condition = Annotated[str, Field(min_length=1, max_length=2000), BeforeValidator(
    lambda v: _expression(v) if isinstance(v, str) else v)]


class UntilRead(_Strict):
    """``until.read`` — the HTTP read repeated until the condition holds (the step's action runs once).

    ``url`` and ``headers`` are templates (rendered once, with the step); ``method`` GET or HEAD.
    """

    method: str = Field(default="GET", pattern=r"^(GET|HEAD)$")
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)


class Until(_Strict):
    """``until:`` — verify until done: repeat until ``condition`` holds, every ``interval`` seconds, for at
    most ``timeout`` seconds; then the step fails (its ``on_failure`` applies).

    ``condition`` sees ``result`` (the latest result: ``outcome``, ``summary``, ``data``) besides what
    ``if`` sees. With ``read`` the action runs once and the read is repeated; without it the step
    itself is repeated, which only an idempotent step may do (a non-idempotent one fails at once when
    its first result does not hold). The wait is a work row with a due time: a restart continues it.
    """

    condition: Condition
    interval: Seconds = Field(default=10.0, gt=0)
    timeout: Seconds = Field(default=300.0, gt=0)
    read: UntilRead | None = None


class _Step(_Strict):
    name: Name
    timeout: Seconds = 10.0
    approval: Approval | None = None
    when: Precondition | None = None
    if_: Condition | None = Field(
        default=None, alias="if", description="run only when this condition (alert, incident, vars, steps, "
        "calendar) holds; else the step is skipped (on_skip applies)")
    until: Until | None = None
    on_failure: OnFailure | None = None
    on_skip: OnFailure | None = Field(
        default=None, description="what a skip by when/if does (default: nothing but the timeline)")
    rate_limit: RateLimit | None = None
    destructive: bool | None = Field(default=None, description="counts against the global destructive budget")
    idempotent: bool | None = Field(default=None, description="safe to retry after a crash (default: the action's)")

