"""Verify until done: a step's ``until`` (or the built-in verification of the Alpaca bulk actions).

After the step's action succeeds its condition is checked over the result. When it does not hold the
step row is rescheduled with an ``until_wait`` in its payload (``started``, ``deadline``, the latest
``result``, ``checks``) and a due time ``interval`` seconds on: the wait lives in the store, so a
restart continues it and the action is not repeated (the row carries the action's result; the wake
goes straight to the check). Each wake repeats the ``until.read`` (an HTTP read), or the action's own
``verify`` read (Alpaca), or — only for an idempotent step — the step itself. At the deadline the
step fails with what remained, and its ``on_failure`` applies (by default: page at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from receiver.actions.base import ActionResult
from receiver.durations import format_duration
from receiver.errors import ActionError
from receiver.model import Job, TimelineEvent
from receiver.playbooks import conditions
from receiver.rules.model import AlpacaVerify, StepModel

#: The built-in conditions of the Alpaca bulk actions (``verify: true``, the default).
BUILTIN = {
    "alpaca.close_all_positions": "result.data.positions_after == 0",
    "alpaca.cancel_all_orders": "result.data.orders_after == 0",
}


@dataclass(frozen=True)
class Spec:
    """One step's verification: ``condition``, ``interval`` and ``timeout`` (seconds), ``read``
    (an ``UntilRead`` dump or None: it is rendered as a template), ``builtin`` (the action's own ``verify`` read)."""

    condition: str
    interval: float
    timeout: float
    read: dict[str, Any] | None
    builtin: bool


def spec_of(step: StepModel) -> Spec | None:
    """The verification a step asks for (its ``until``, else the Alpaca default), or None."""
    u = step.until
    if u is not None:
        read = u.read.model_dump(mode="json") if u.read is not None else None
        return Spec(u.condition, u.interval, u.timeout, read, False)
    if isinstance(step, AlpacaVerify) and step.action in BUILTIN and step.verify:
        return Spec(BUILTIN[step.action], step.verify_interval, step.verify_timeout, None, True)
    return None


def as_dict(r: ActionResult) -> dict[str, Any]:
    """An ``ActionResult`` as conditions see it: ``{"outcome", "summary", "data"}``."""
    return {"outcome": r.outcome, "summary": r.summary, "data": dict(r.data)}


async def check(runner: Any, spec: Spec, base_ctx: dict[str, Any], results: dict[str, Any],
                result: dict[str, Any], now: float) -> tuple[bool, str]:
    """Whether ``spec.condition`` holds over ``result``; ``(False, why)`` when it cannot be evaluated."""
    try:
        ctx = await conditions.context(base_ctx, results, runner.config.reads, now, spec.condition, result)
        return conditions.holds(spec.condition, ctx), ""
    except ActionError as e:
        return False, e.reason


async def read_again(runner: Any, spec: Spec, step: StepModel, params: dict[str, Any],
                     read: dict[str, Any] | None, timeout: float) -> ActionResult:
    """One repetition: the ``read`` (rendered: ``method``, ``url``, ``headers``), the action's ``verify``
    read, or the (idempotent) action again. Raises ``ActionError`` as the action does."""
    if read is not None:
        http = runner.actions.get("http")
        if http is None:
            raise ActionError("until.read needs the http action", retryable=False)
        got: ActionResult = await http.run({**read, "json": None}, dry_run=False, timeout=timeout)
        return got
    action = runner.actions.get(step.action)
    if spec.builtin and hasattr(action, "verify"):
        verified: ActionResult = await action.verify(params, timeout=timeout)
        return verified
    again: ActionResult = await action.run(params, dry_run=False, timeout=timeout)
    return again


def waiting_event(step: StepModel, spec: Spec, result: dict[str, Any], why: str, now: float,
                  deadline: float) -> TimelineEvent:
    """The timeline line of a check that did not hold yet."""
    name = step.name
    return TimelineEvent(now, "step.verifying", f"step '{name}': not done yet ({spec.condition}): "
                         f"{why or result.get('summary', '')}; checking again in {format_duration(spec.interval)} "
                         f"(until {format_duration(deadline - now)} from now)",
                         {"step": name, "action": step.action, "condition": spec.condition,
                          "data": result.get("data", {})})


def wait_payload(job: Job, started: float, deadline: float, result: dict[str, Any], checks: int) -> dict[str, Any]:
    """The step row's payload while it verifies (``until_wait``)."""
    return {**job.payload, "until_wait": {"started": started, "deadline": deadline, "result": result,
                                          "checks": checks}}


def is_repeatable(spec: Spec, idempotent: bool) -> bool:
    """Whether a wait can repeat anything: a read, the built-in verify read, or an idempotent step."""
    return spec.read is not None or spec.builtin or idempotent
