"""Run one playbook step from its claimed work row, record it, and enqueue the next step.

Semantics (DESIGN.md): a playbook runs once per incident — its rows have idempotency keys
``step:<incident>:<index>`` and the next row is enqueued in the same transaction that records the
step's outcome. The steps are copied into the first row when the incident opens, so a rule reload
never changes a playbook in flight. A row taken over after a crash (``job.takeover``) is retried
when its action is idempotent, else recorded as ``outcome unknown``. Retryable failures are retried
up to ``MAX_ATTEMPTS`` with exponential backoff; a step that fails for good is recorded and the
playbook goes on with the next step (protective steps must not wait for each other).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from receiver.actions.base import Action, ActionResult
from receiver.errors import ActionError
from receiver.metrics import Metrics
from receiver.model import Job, TimelineEvent
from receiver.playbooks.render import redact, render_value, template_context
from receiver.store.base import Store

MAX_ATTEMPTS = 3
_PARAM_SKIP = {"name", "action", "timeout"}
log = structlog.get_logger("runbookd.playbooks")


@dataclass(frozen=True)
class RunnerConfig:
    """What the runner needs from settings: dry-run switch, template ``vars``/``secrets``, URLs."""

    dry_run: bool
    vars: Mapping[str, str]
    secrets: Mapping[str, str | None]
    secret_values: list[str]
    external_url: str


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): 2, 4, 8 … capped at 60."""
    return float(min(60, 2 ** attempt))


class PlaybookRunner:
    """Executes ``step`` rows: render, run the action, record, enqueue what follows."""

    def __init__(
        self, store: Store, actions: Mapping[str, Action], config: RunnerConfig, metrics: Metrics,
        clock: Any, on_playbook_done: Callable[[Any, str, float], int] | None = None,
    ) -> None:
        self.store = store
        self.actions = actions
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.on_playbook_done = on_playbook_done

    async def run(self, job: Job) -> None:
        """Run the step of ``job`` (claimed, state ``running``) and commit its outcome."""
        p = job.payload
        index: int = p["index"]
        step: dict[str, Any] = p["steps"][index]
        name, action_name = step["name"], step["action"]
        incident = await self.store.read(lambda tx: tx.get_incident(job.incident_id))
        if incident is None:
            await self._finish(job, "failed", [], {"error": "incident not found"})
            return
        bound = log.bind(incident=incident.id, step=name, action=action_name)
        action = self.actions.get(action_name)
        events: list[TimelineEvent] = []
        now = self.clock.now()
        if job.takeover:
            idem = bool(action is not None and action.idempotent)
            events.append(TimelineEvent(
                now, "step.interrupted",
                f"step '{name}' was cut off by a crash; "
                + ("retrying (the action is idempotent)" if idem else "outcome unknown, not retried"),
                {"step": name, "action": action_name, "attempt": job.attempts}))
            if not idem:
                self.metrics.actions.labels(action=action_name, outcome="unknown").inc()
                await self._finish(job, "unknown", events, {"outcome": "unknown", "step": name,
                                                             "action": action_name}, advance=True)
                return
        alert = incident.alerts[0] if incident.alerts else None
        ctx = template_context(incident, alert, vars=dict(self.config.vars), secrets=dict(self.config.secrets),
                               incident_url=f"{self.config.external_url}/api/v1/incidents/{incident.id}")
        params_t = {k: v for k, v in step.items() if k not in _PARAM_SKIP}
        timeout = float(step.get("timeout", 10.0))
        try:
            if action is None:
                raise ActionError(f"unknown action {action_name!r}", retryable=False)
            params = render_value(params_t, ctx)
            shown = redact(params, self.config.secret_values)
            events.append(TimelineEvent(now, "step.started", f"step '{name}' ({action_name}) started",
                                        {"step": name, "action": action_name, "params": shown,
                                         "attempt": job.attempts, "dry_run": self.config.dry_run}))
            result = await action.run(params, dry_run=self.config.dry_run, timeout=timeout)
        except ActionError as e:
            await self._failed(job, name, action_name, e, events)
            bound.warning("step failed", reason=e.reason, retryable=e.retryable)
            return
        await self._succeeded(job, name, action_name, result, events)
        bound.info("step done", outcome=result.outcome, summary=result.summary)

    async def _succeeded(self, job: Job, name: str, action: str, r: ActionResult,
                         events: list[TimelineEvent]) -> None:
        now = self.clock.now()
        data = redact(dict(r.data), self.config.secret_values)
        events.append(TimelineEvent(now, f"step.{r.outcome}", f"step '{name}' ({action}): {r.outcome} — "
                                    f"{redact(r.summary, self.config.secret_values)}",
                                    {"step": name, "action": action, "outcome": r.outcome, **data}))
        self.metrics.actions.labels(action=action, outcome=r.outcome).inc()
        await self._finish(job, "done", events, {"outcome": r.outcome, "summary": r.summary, "step": name,
                                                  "action": action}, advance=True)

    async def _failed(self, job: Job, name: str, action: str, e: ActionError,
                      events: list[TimelineEvent]) -> None:
        now = self.clock.now()
        reason = redact(e.reason, self.config.secret_values)
        if e.retryable and job.attempts < MAX_ATTEMPTS:
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
        events.append(TimelineEvent(now, "step.failed", f"step '{name}' ({action}) failed: {reason}",
                                    {"step": name, "action": action, "attempt": job.attempts,
                                     "retryable": e.retryable}))
        self.metrics.actions.labels(action=action, outcome="failed").inc()
        await self._finish(job, "failed", events, {"outcome": "failed", "summary": reason, "step": name,
                                                    "action": action}, advance=True)

    async def _finish(self, job: Job, state: str, events: list[TimelineEvent], result: dict[str, Any],
                      advance: bool = False) -> None:
        now = self.clock.now()
        p = job.payload
        nxt = p.get("index", 0) + 1
        last = nxt >= len(p.get("steps", ()))

        def commit(tx: Any) -> None:
            for ev in events:
                tx.add_event(job.incident_id, ev)
            tx.finish_job(job.id, state, now, result)
            if not advance:
                return
            if not last:
                tx.enqueue(f"step:{job.incident_id}:{nxt}", "step", job.incident_id, {**p, "index": nxt}, now, now)
            else:
                tx.add_event(job.incident_id, TimelineEvent(
                    now, "playbook.done", f"playbook '{p.get('playbook')}' finished", {"playbook": p.get("playbook")}))
                if self.on_playbook_done is not None:
                    self.on_playbook_done(tx, job.incident_id, now)

        await self.store.transaction(commit)
