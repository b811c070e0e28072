"""Run one playbook step from its claimed work row, record it, and enqueue what follows.

Order of a step (docs/playbooks.md): crash takeover → automation pause → ``when`` preconditions →
``if`` → approval → rate limits and budgets (reserved with the record of the execution) → the action →
its ``until`` (``receiver.playbooks.verify``: the row sleeps between checks, a restart continues). Each
step's result (``outcome``, ``summary``, ``data``) is carried to the next rows as ``results`` and seen by
templates and conditions as ``steps.NAME.result``. A skip by ``when``/``if`` applies only ``on_skip``. A
playbook runs once per incident: rows have idempotency keys ``<prefix>:<index>`` and the next row
is enqueued in the transaction that records the step's outcome. Steps are copied into the first row
when the incident opens, so a rule reload never changes a playbook in flight. A row taken over after
a crash is retried when its action is idempotent, else recorded as ``outcome unknown`` and paged.
A step that fails, is skipped by a limit or the pause, or is rejected applies its ``on_failure``
(by default: page at once) — limits that bite are paged, never silent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from receiver.actions.base import Action, ActionResult
from receiver.durations import format_duration
from receiver.errors import ActionError
from receiver.escalation.postmortem import render_report
from receiver.escalation.templates import Templates
from receiver.metrics import Metrics
from receiver.model import Incident, Job, TimelineEvent
from receiver.playbooks import approvals, conditions, until, verify
from receiver.playbooks.gates import (
    BrokerReads,
    Refusal,
    check_when,
    maintenance_gate,
    paused,
    playbook_gate,
    reserve,
)
from receiver.playbooks.outcome import apply_on_failure
from receiver.playbooks.render import redact, render_value, template_context
from receiver.playbooks.steps import current, stored_field
from receiver.playbooks.steps import params as step_params
from receiver.rules.model import HttpStep, StepModel
from receiver.rules.safety import OnFailure
from receiver.store.base import Store

MAX_ATTEMPTS = 3
WAIT_POLL = 15.0
_DEFAULT_ON_FAILURE = OnFailure(page=True)
#: Payload keys that belong to one step's wait and must not carry over to the next step.
_PER_STEP = ("wait_started", "approval_wait", "until_wait")
log = structlog.get_logger("runbookd.playbooks")


@dataclass(frozen=True)
class RunnerConfig:
    """What the runner needs from settings: dry-run switch, template ``vars``/``secrets``, URLs, budget."""

    dry_run: bool
    vars: Mapping[str, str]
    secrets: Mapping[str, str | None]
    secret_values: list[str]
    external_url: str
    budget: Any = None
    reads: BrokerReads = field(default_factory=BrokerReads)
    #: ``receiver.escalation.templates.Templates`` for ``notify`` with ``report: true`` (default: the shipped ones).
    templates: Any = None


def step_idempotent(step: StepModel, action: Action | None) -> bool:
    """Whether the step may run again after a crash or a retryable failure.

    The step's ``idempotent`` wins; an ``http`` step is idempotent for GET, HEAD, PUT and DELETE (a
    POST or PATCH must say ``idempotent: true``); other actions declare it themselves.
    """
    if step.idempotent is not None:
        return step.idempotent
    if isinstance(step, HttpStep):
        return step.method in ("GET", "HEAD", "PUT", "DELETE")
    return bool(action is not None and action.idempotent)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): 2, 4, 8 … capped at 60."""
    return float(min(60, 2 ** attempt))


class PlaybookRunner:
    """Executes ``step`` rows: gates, render, run the action, record, enqueue what follows."""

    def __init__(
        self, store: Store, actions: Mapping[str, Action], config: RunnerConfig, metrics: Metrics,
        clock: Any, on_playbook_done: Callable[[Any, str, float], int] | None = None,
        rules: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.actions = actions
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.on_playbook_done = on_playbook_done
        self.rules = rules or (lambda: None)

    async def run(self, job: Job) -> None:
        """Run the step of ``job`` (claimed, state ``running``) and commit its outcome."""
        p = job.payload
        incident, pause = await self.store.read(lambda tx: (tx.get_incident(job.incident_id), paused(tx)))
        if incident is None:
            await self._finish(job, "failed", [], {"error": "incident not found"})
            return
        try:
            step = current(p)
        except ValidationError as e:
            await self._unparsable(job, incident, e)
            return
        name, action_name = step.name, step.action
        action = self.actions.get(action_name)
        shadow = p.get("mode") == "shadow" or incident.mode == "shadow"
        dry = self.config.dry_run or shadow
        events: list[TimelineEvent] = []
        now = self.clock.now()
        base = {"step": name, "action": action_name}
        if job.takeover:
            idem = step_idempotent(step, action)
            events.append(TimelineEvent(
                now, "step.interrupted", f"step '{name}' was cut off by a crash; "
                + ("retrying (the action is idempotent)" if idem else "outcome unknown, not retried"),
                {**base, "attempt": job.attempts}))
            if not idem:
                self.metrics.actions.labels(action=action_name, outcome="unknown").inc()
                await self._refused(job, incident, step, Refusal("unknown", "cut off by a crash: outcome unknown",
                                                                 limit=True), events, state="unknown")
                return
        alert = incident.alerts[0] if incident.alerts else None
        ctx = template_context(incident, alert, vars=dict(self.config.vars), secrets=dict(self.config.secrets),
                               incident_url=f"{self.config.external_url}/incidents/{incident.id}",
                               steps=conditions.steps_view(p.get("results") or {}))
        if p.get("until_wait"):
            await verify.again(self, job, incident, step, ctx, events, now)
            return
        if p["index"] == 0 and p.get("phase", "main") == "main" and not dry:
            refusal = await self.store.transaction(
                lambda tx: playbook_gate(tx, now=now, payload=p, incident_id=incident.id))
            if refusal is not None:
                await self._refused(job, incident, step, refusal, events)
                return
        if pause is not None and not dry:
            await self._refused(job, incident, step, Refusal(
                "skipped", f"automation paused by {pause.get('by')}: not run, act manually", limit=True), events)
            return
        # A manual run (``triggered_by``) is a person's explicit order: maintenance does not skip it.
        during = p.get("during_maintenance", "run" if p.get("triggered_by") else "skip")
        held = await self.store.read(lambda tx: maintenance_gate(tx, incident, now, during))
        if held is not None:
            await self._refused(job, incident, step, held, events)
            return
        if step.when is not None:
            run, why = await check_when(step.when, self.config.reads, now)
            events.append(TimelineEvent(now, "step.precondition", f"step '{name}': {why}", {**base, "run": run}))
            if not run:
                await self._refused(job, incident, step, Refusal("skipped", why), events)
                return
        if step.if_:
            try:
                cctx = await conditions.context(ctx, p.get("results") or {}, self.config.reads, now, step.if_)
                taken = conditions.holds(step.if_, cctx)
            except ActionError as e:
                await self._failed(job, incident, step, e, events)
                return
            events.append(TimelineEvent(now, "step.condition", f"step '{name}': if {step.if_}: "
                                        + ("true, runs" if taken else "false, skipped"), {**base, "run": taken}))
            if not taken:
                await self._refused(job, incident, step, Refusal("skipped", f"if {step.if_}: false"), events)
                return
        try:
            params = render_value(step_params(step), ctx)
        except ActionError as e:
            await self._failed(job, incident, step, e, events)
            return
        if action_name == "http":
            # The idempotency key of (incident, step), committed before the call: a system that honours
            # Idempotency-Key executes a retried or re-claimed request once.
            key = f"runbookd-{incident.id}-{p.get('phase', 'main')}-{p['index']}"
            params["headers"] = {"Idempotency-Key": key, **(params.get("headers") or {})}
        shown = redact(params, self.config.secret_values)
        if step.approval is not None:
            if shadow:
                events.append(TimelineEvent(now, "approval.shadow", f"step '{name}' would ask for approval", base))
            else:
                verdict = await approvals.gate(self, job, incident, step, shown, events, now)
                if verdict is approvals.WAITING:
                    return
                if isinstance(verdict, Refusal):
                    await self._refused(job, incident, step, verdict, events)
                    return
        if action_name in ("wait_for_resolved", "notify", "wait"):
            await self._builtin(job, incident, step, params, events, now, dry)
            return
        if not dry:
            refusal = await self.store.transaction(lambda tx: reserve(
                tx, now=now, payload=p, step=step, incident_id=incident.id, budget=self.config.budget))
            if refusal is not None:
                await self._refused(job, incident, step, refusal, events)
                return
        events.append(TimelineEvent(now, "step.started", f"step '{name}' ({action_name}) started",
                                    {**base, "params": shown, "attempt": job.attempts, "dry_run": dry,
                                     "shadow": shadow, "rules_version": p.get("rules_version")}))
        try:
            if action is None:
                raise ActionError(f"unknown action {action_name!r}", retryable=False)
            result = await action.run(params, dry_run=dry, timeout=step.timeout)
        except ActionError as e:
            await self._failed(job, incident, step, e, events)
            return
        spec = until.spec_of(step)
        if spec is not None and result.outcome == "ok" and not dry:
            await verify.first(self, job, incident, step, spec, ctx, result, events, now)
            return
        await self._succeeded(job, step, result, events)

    def idempotent(self, step: StepModel, action: Action | None) -> bool:
        """``step_idempotent`` (for ``receiver.playbooks.verify``)."""
        return step_idempotent(step, action)

    async def _wait(self, job: Job, events: list[TimelineEvent], due: float, payload: dict[str, Any]) -> None:
        """Record ``events`` and put the step row back to sleep until ``due`` (epoch seconds)."""
        now = self.clock.now()

        def commit(tx: Any) -> None:
            for ev in events:
                tx.add_event(job.incident_id, ev)
            tx.reschedule(job.id, due, now, payload)

        await self.store.transaction(commit)

    async def _builtin(self, job: Job, incident: Incident, step: StepModel, params: dict[str, Any],
                       events: list[TimelineEvent], now: float, dry: bool) -> None:
        """``wait_for_resolved`` and ``notify``: steps the engine carries out itself."""
        name, p = step.name, job.payload
        if step.action == "wait":
            started = float(p.get("wait_started", now))
            deadline = started + float(params.get("duration", 0))
            if now < deadline:
                if "wait_started" not in p:
                    events.append(TimelineEvent(now, "step.waiting", f"step '{name}' waits "
                                                f"{format_duration(deadline - now)}", {"step": name, "action": "wait",
                                                                                       "until": deadline}))
                await self._wait(job, events, deadline, {**p, "wait_started": started})
                return
            await self._succeeded(job, step, ActionResult("ok", f"waited {format_duration(now - started)}"), events)
            return
        if step.action == "notify":
            text = str(params.get("message", ""))
            if params.get("report"):
                text = await self._report(incident, text, now)
            receivers = list(params.get("notify", []))

            def notify(tx: Any) -> None:
                for r in receivers:
                    tx.enqueue(f"notice:{incident.id}:{incident.epoch}:step-{p['index']}-{name}:{r}", "notice",
                               incident.id, {"receiver": r, "text": text}, now, now)

            if not (p.get("mode") == "shadow"):
                await self.store.transaction(notify)
            await self._succeeded(job, step, ActionResult("ok", f"notified {', '.join(receivers)}: {text}"), events)
            return
        if incident.status == "resolved":
            waited = now - float(p.get("wait_started", now))
            await self._succeeded(job, step, ActionResult(
                "ok", f"resolved after {format_duration(waited)}: the steps after it (the escalation path) "
                "are not run"), events, stop=True)
            return
        started = float(p.get("wait_started", now))
        deadline = started + float(params.get("duration", 0))
        if now < deadline:
            due = min(deadline, now + WAIT_POLL)
            payload = {**p, "wait_started": started}
            await self.store.transaction(lambda tx: tx.reschedule(job.id, due, now, payload))
            return
        await self._refused(job, incident, step, Refusal(
            "failed", f"not resolved within {format_duration(deadline - started)}"), events, state="failed")

    async def _report(self, incident: Incident, message: str, now: float) -> str:
        """``message`` (if any) and seed 003's INCIDENT REPORT of ``incident`` as of ``now``."""
        timeline = await self.store.read(lambda tx: tx.timeline(incident.id))
        report = render_report(incident, timeline, self.config.templates or Templates(), now,
                               external_url=self.config.external_url)
        return str(redact(f"{message}\n\n{report}" if message else report, self.config.secret_values))

    async def _succeeded(self, job: Job, step: StepModel, r: ActionResult, events: list[TimelineEvent],
                         stop: bool = False) -> None:
        now = self.clock.now()
        name, action = step.name, step.action
        data = redact(dict(r.data), self.config.secret_values)
        events.append(TimelineEvent(now, f"step.{r.outcome}", f"step '{name}' ({action}): {r.outcome} — "
                                    f"{redact(r.summary, self.config.secret_values)}",
                                    {"step": name, "action": action, "outcome": r.outcome, **data}))
        self.metrics.actions.labels(action=action, outcome=r.outcome).inc()
        log.info("step done", incident=job.incident_id, step=name, outcome=r.outcome,
                 summary=redact(r.summary, self.config.secret_values))
        before: Callable[[Any], bool] | None = (lambda tx: True) if stop else None
        if r.outcome == "skipped" and step.on_failure is not None:
            # The action skipped itself (its integration is not configured): a declared on_failure applies.
            on_failure = step.on_failure
            rules = self.rules()
            text = f"ACTION NEEDED: step '{name}' skipped: {redact(r.summary, self.config.secret_values)}"
            tag = f"step-{job.payload.get('phase', 'main')}-{job.payload['index']}"

            def before(tx: Any) -> bool:
                return apply_on_failure(tx, job.incident_id, rules, on_failure, text, tag, now)

        await self._finish(job, "done", events, {"outcome": r.outcome, "summary": r.summary, "step": name,
                                                  "action": action, "data": data}, advance=True,
                           before_advance=before)

    async def _failed(self, job: Job, incident: Incident, step: StepModel, e: ActionError,
                      events: list[TimelineEvent]) -> None:
        now = self.clock.now()
        name, action = step.name, step.action
        reason = redact(e.reason, self.config.secret_values)
        log.warning("step failed", incident=job.incident_id, step=name, reason=reason, retryable=e.retryable)
        idem = step_idempotent(step, self.actions.get(action))
        if e.retryable and job.attempts < MAX_ATTEMPTS and idem:
            due = now + backoff(job.attempts)
            events.append(TimelineEvent(now, "step.retry", f"step '{name}' ({action}) failed, retrying in "
                                        f"{due - now:.0f}s: {reason}",
                                        {"step": name, "action": action, "attempt": job.attempts}))
            self.metrics.actions.labels(action=action, outcome="retry").inc()

            def retry(tx: Any) -> None:
                for ev in events:
                    tx.add_event(job.incident_id, ev)
                tx.retry_job(job.id, due, now, {"error": reason})

            await self.store.transaction(retry)
            return
        await self._refused(job, incident, step, Refusal("failed", reason), events, state="failed",
                            extra={"attempt": job.attempts, "retryable": e.retryable})

    async def _refused(self, job: Job, incident: Incident, step: StepModel, why: Refusal,
                       events: list[TimelineEvent], *, state: str = "done",
                       extra: dict[str, Any] | None = None) -> None:
        """Record a step that did not do its job and apply its ``on_failure`` (paging when a limit bit)."""
        now = self.clock.now()
        name, action = step.name, step.action
        if why.outcome != "unknown":
            events.append(TimelineEvent(now, f"step.{why.outcome}", f"step '{name}' ({action}) {why.outcome}: "
                                        f"{why.reason}", {"step": name, "action": action, "outcome": why.outcome,
                                                          "limit": why.limit, **(extra or {})}))
            self.metrics.actions.labels(action=action, outcome=why.outcome).inc()
        precondition = why.outcome == "skipped" and not why.limit
        # A skip by the step's own when/if is not a failure: only its on_skip applies (default: nothing).
        declared = step.on_skip if precondition else step.on_failure
        on_failure = declared or (None if precondition else _DEFAULT_ON_FAILURE)
        if why.limit and on_failure is not None and not on_failure.page:
            on_failure = on_failure.model_copy(update={"page": True})
        rules = self.rules()
        text = f"ACTION NEEDED: step '{name}' of {incident.title} {why.outcome}: {why.reason}"
        tag = f"step-{job.payload.get('phase', 'main')}-{job.payload['index']}"

        def after(tx: Any) -> bool:
            stop = bool(on_failure and apply_on_failure(tx, incident.id, rules, on_failure, text, tag, now))
            return stop or why.stop

        await self._finish(job, state, events, {"outcome": why.outcome, "summary": why.reason, "step": name,
                                                 "action": action, "data": (extra or {}).get("data") or {}},
                           advance=True, before_advance=after)

    async def _unparsable(self, job: Job, incident: Incident, e: ValidationError) -> None:
        """A stored step that does not parse (an unknown action, a key no model has): fail it visibly,
        page (the default ``on_failure``) and go on with the next step, as an unknown action does."""
        now = self.clock.now()
        name, action = stored_field(job.payload, "name"), stored_field(job.payload, "action")
        reason = f"the stored step does not parse: {e.error_count()} error(s): " + "; ".join(
            f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())
        log.warning("step unparsable", incident=job.incident_id, step=name, reason=reason)
        self.metrics.actions.labels(action=action or "unknown", outcome="failed").inc()
        events = [TimelineEvent(now, "step.failed", f"step '{name}' ({action}) failed: {reason}",
                                {"step": name, "action": action, "outcome": "failed", "limit": False})]
        rules = self.rules()
        text = f"ACTION NEEDED: step '{name}' of {incident.title} failed: {reason}"
        tag = f"step-{job.payload.get('phase', 'main')}-{job.payload['index']}"

        def after(tx: Any) -> bool:
            return apply_on_failure(tx, incident.id, rules, _DEFAULT_ON_FAILURE, text, tag, now)

        await self._finish(job, "failed", events, {"outcome": "failed", "summary": reason, "step": name,
                                                    "action": action, "data": {}},
                           advance=True, before_advance=after)

    async def _finish(self, job: Job, state: str, events: list[TimelineEvent], result: dict[str, Any],
                      advance: bool = False, before_advance: Callable[[Any], bool] | None = None) -> None:
        now = self.clock.now()
        p = job.payload
        nxt = p.get("index", 0) + 1
        last = nxt >= len(p.get("steps", ()))
        prefix = p.get("key_prefix") or f"step:{job.incident_id}"

        def commit(tx: Any) -> None:
            for ev in events:
                tx.add_event(job.incident_id, ev)
            tx.finish_job(job.id, state, now, result)
            stop = before_advance(tx) if before_advance is not None else False
            if not advance:
                return
            if stop and not last:
                tx.add_event(job.incident_id, TimelineEvent(
                    now, "playbook.stopped", f"playbook '{p.get('playbook')}' stopped after step "
                    f"'{result.get('step')}': {result.get('summary')}", {"playbook": p.get("playbook")}))
                last_now = True
            else:
                last_now = last
            if not last_now:
                carried = {k: v for k, v in p.items() if k not in _PER_STEP}
                if result.get("step"):
                    carried["results"] = {**(p.get("results") or {}), result["step"]: redact(
                        {k: v for k, v in result.items() if k != "step"}, self.config.secret_values)}
                tx.enqueue(f"{prefix}:{nxt}", "step", job.incident_id, {**carried, "index": nxt}, now, now)
            else:
                tx.add_event(job.incident_id, TimelineEvent(
                    now, "playbook.done", f"playbook '{p.get('playbook')}' finished", {"playbook": p.get("playbook")}))
                if self.on_playbook_done is not None and p.get("phase", "main") == "main":
                    self.on_playbook_done(tx, job.incident_id, now)

        await self.store.transaction(commit)
