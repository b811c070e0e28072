"""The two moments of verify-until-done in the runner (``receiver.playbooks.until`` holds the pieces).

``first``: the step's action succeeded; check its ``until`` (or the Alpaca default) over the result:
done, failed (a non-idempotent step without a read cannot repeat), or the row sleeps until the next
check. ``again``: a wake of a verifying row; repeat the read (never the action unless idempotent),
check, and succeed, fail at the deadline (``on_failure`` applies) or sleep again. ``runner`` is the
``PlaybookRunner`` (its ``_succeeded``, ``_refused`` and ``_wait`` record and commit).
"""

from __future__ import annotations

from typing import Any

from receiver.actions.base import ActionResult
from receiver.durations import format_duration
from receiver.errors import ActionError
from receiver.model import Incident, Job, TimelineEvent
from receiver.playbooks import until
from receiver.playbooks.gates import Refusal
from receiver.playbooks.render import redact, render_value
from receiver.playbooks.steps import params as step_params
from receiver.rules.model import StepModel


async def first(runner: Any, job: Job, incident: Incident, step: StepModel, spec: until.Spec,
                ctx: dict[str, Any], result: ActionResult, events: list[TimelineEvent], now: float) -> None:
    """The action succeeded: check its ``until``; done, failed, or the row waits for the next check."""
    got = until.as_dict(result)
    held, why = await until.check(runner, spec, ctx, job.payload.get("results") or {}, got, now)
    if held:
        await runner._succeeded(job, step, result, events)
        return
    idem = runner.idempotent(step, runner.actions.get(step.action))
    if not until.is_repeatable(spec, idem):
        await runner._refused(job, incident, step, Refusal(
            "failed", f"not done ({spec.condition}): {why or result.summary}; the step is not idempotent and "
            "has no until.read, so it is not repeated"), events, state="failed", extra={"data": got["data"]})
        return
    runner.metrics.actions.labels(action=step.action, outcome=result.outcome).inc()
    events.append(TimelineEvent(now, "step.acted", f"step '{step.name}' ({step.action}): "
                                f"{result.outcome} — {redact(result.summary, runner.config.secret_values)}; "
                                "verifying",
                                {"step": step.name, "action": step.action, "outcome": result.outcome,
                                 **redact(got["data"], runner.config.secret_values)}))
    deadline = now + spec.timeout
    events.append(until.waiting_event(step, spec, got, why, now, deadline))
    payload = redact(until.wait_payload(job, now, deadline, got, 1), runner.config.secret_values)
    await runner._wait(job, events, min(now + spec.interval, deadline), payload)


async def again(runner: Any, job: Job, incident: Incident, step: StepModel, ctx: dict[str, Any],
                events: list[TimelineEvent], now: float) -> None:
    """A wake of a verifying step: repeat the read (never the action unless idempotent), check again."""
    spec = until.spec_of(step)
    w = job.payload["until_wait"]
    assert spec is not None
    deadline, checks = float(w["deadline"]), int(w.get("checks", 1)) + 1
    try:
        params = render_value(step_params(step), ctx)
        read = render_value(dict(spec.read), ctx) if spec.read is not None else None
        got = until.as_dict(await until.read_again(runner, spec, step, params, read,
                                                   step.timeout))
        held, why = await until.check(runner, spec, ctx, job.payload.get("results") or {}, got, now)
    except ActionError as e:
        got, held, why = dict(w.get("result") or {}), False, f"check failed: {e.reason}"
    if held:
        waited = format_duration(now - float(w["started"]))
        await runner._succeeded(job, step, ActionResult("ok", f"done after {waited} ({checks} checks): "
                                                      f"{got.get('summary', '')}", got.get("data") or {}), events)
        return
    if now >= deadline:
        left = why or got.get("summary", "")
        await runner._refused(job, incident, step, Refusal(
            "failed", f"not done within {format_duration(spec.timeout)} ({spec.condition}): {left}"),
            events, state="failed", extra={"data": got.get("data") or {}, "checks": checks})
        return
    events.append(until.waiting_event(step, spec, got, why, now, deadline))
    payload = redact(until.wait_payload(job, float(w["started"]), deadline, got, checks), runner.config.secret_values)
    await runner._wait(job, events, min(now + spec.interval, deadline), payload)
