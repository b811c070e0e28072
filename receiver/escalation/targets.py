"""Response targets: ``respond_within`` per severity, the durable breach timer, and response-time metrics.

An escalation policy's ``respond_within`` is how long an incident may stay unacknowledged from its
opening (or reopening). Each opening plans one work row (kind ``target``, key
``target:<incident>:<epoch>:breach``) due at ``opened + respond_within``: a durable timer in the store,
like the escalation pages, so a restart or another replica still fires it exactly once. When it fires
and the incident of that epoch is still firing and unacknowledged, the breach is put on the timeline,
the next escalation step (the first planned at or after the target) is made due at once, and
``runbookd_response_target_breaches_total{severity}`` counts it. An acknowledgement in time leaves the
row nothing to do (it finishes as ``cancelled``). While a maintenance window covers the incident, the
breach waits for the window's end (``defer_breach``; docs/maintenance.md).

Acknowledging and resolving enqueue a ``target`` row too (``…:acknowledged``, ``…:resolved``), which
observes ``runbookd_incident_time_to_acknowledge_seconds`` / ``…_time_to_resolve_seconds`` by severity:
once per incident epoch across replicas, since only the replica that claims the row observes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from receiver.clock import format_utc
from receiver.durations import format_duration
from receiver.escalation.planner import PlannedJob
from receiver.metrics import Metrics
from receiver.model import Incident, Job, TimelineEvent
from receiver.store.base import Store

KIND = "target"
BREACHED = "response.breached"
"""Timeline kind of a missed response target (``GET /api/v1/reports/response`` counts these)."""
log = structlog.get_logger("runbookd.targets")


def response_targets(rules: Any) -> dict[str, float]:
    """``{severity: respond_within seconds}`` of the rule set's escalation policies that set one."""
    return {sev: float(p.respond_within) for sev, p in rules.escalation_policies.items()
            if getattr(p, "respond_within", None) is not None}


def plan_breach(incident_id: str, epoch: int, opened_at: float, policy: Any, mode: str = "active") -> list[PlannedJob]:
    """The breach timer of one opening (epoch), or nothing without ``respond_within`` or in shadow mode."""
    within = getattr(policy, "respond_within", None) if policy is not None else None
    if within is None or mode == "shadow":
        return []
    return [PlannedJob(key=f"target:{incident_id}:{epoch}:breach", kind=KIND, due_at=opened_at + within,
                       payload={"event": "breach", "epoch": epoch, "opened_at": opened_at,
                                "respond_within": float(within)})]


def opened_at(tx: Any, inc: Incident) -> float:
    """When the incident's current epoch opened: ``started_at``, or its last reopening (epoch seconds)."""
    if inc.epoch == 0:
        return inc.started_at
    reopened = [e.at for e in tx.timeline(inc.id) if e.kind == "incident.reopened"]
    return max(reopened, default=inc.started_at)


def record(tx: Any, inc: Incident, event: str, now: float) -> None:
    """Enqueue the measure of ``event`` (``acknowledged`` or ``resolved``) of ``inc``'s current epoch."""
    seconds = max(0.0, now - opened_at(tx, inc))
    tx.enqueue(f"target:{inc.id}:{inc.epoch}:{event}", KIND, inc.id,
               {"event": event, "epoch": inc.epoch, "severity": inc.severity, "seconds": seconds}, now, now)


def apply_breach(tx: Any, job: Job, now: float) -> str | None:
    """Carry out a due breach row inside a transaction. Returns the severity breached, or ``None`` when
    the incident was acknowledged, resolved or reopened since (nothing written)."""
    p = job.payload
    inc = tx.get_incident(job.incident_id, for_update=True)
    if inc is None or inc.epoch != p.get("epoch") or inc.status != "firing" or inc.acknowledged_at is not None:
        return None
    # The next step is the first one planned at or after the target (by plan, not by row state, so the
    # answer does not depend on whether that step's rows were claimed before this one).
    later = [j for j in tx.jobs_of(inc.id) if j.kind == "page" and j.payload.get("epoch", 0) == inc.epoch
             and j.due_at >= job.due_at]
    within = float(p.get("respond_within", 0.0))
    data: dict[str, Any] = {"severity": inc.severity, "respond_within": within,
                            "opened_at": p.get("opened_at"), "escalated_step": None, "receivers": []}
    if later:
        step = min(int(j.payload.get("step", 0)) for j in later)
        due = [j for j in later if int(j.payload.get("step", 0)) == step]
        for j in due:
            if j.state == "pending":
                tx.make_due(j.key, now)
        receivers = [str(j.payload.get("receiver")) for j in due]
        data |= {"escalated_step": step, "receivers": receivers}
        what = f"escalating to step {step + 1} now ({', '.join(receivers)})"
    else:
        what = "every escalation step has paged already"
    tx.add_event(inc.id, TimelineEvent(
        now, BREACHED, f"response target missed: {inc.severity} not acknowledged within "
        f"{format_duration(within)}; {what}", data))
    return str(inc.severity)


#: ``hold(tx, incident, now)`` → epoch seconds until which a breach waits (a maintenance window that covers
#: the incident ends then), or ``None``. Injected by the layer above (receiver.maintenance.windows.window_end).
Hold = Callable[[Any, Incident, float], float | None]
DEFERRED = "response.deferred"


def defer_breach(tx: Any, job: Job, now: float, hold: Hold) -> bool:
    """Put a due breach row back until the maintenance that covers its incident ends; ``True`` if it did.

    The first deferral by a given end is on the timeline (``response.deferred``); an incident still
    unacknowledged when the window ends breaches then.
    """
    inc = tx.get_incident(job.incident_id)
    p = job.payload
    if inc is None or inc.epoch != p.get("epoch") or inc.status != "firing" or inc.acknowledged_at is not None:
        return False
    until = hold(tx, inc, now)
    if until is None or until <= now:
        return False
    if p.get("deferred_until") != until:
        text = f"response target of {inc.severity} paused by maintenance: the breach waits until {format_utc(until)}"
        tx.add_event(inc.id, TimelineEvent(now, DEFERRED, text, {"until": until}))
    tx.reschedule(job.id, until, now, {**p, "deferred_until": until})
    return True


class Targets:
    """Runs ``target`` rows: breach timers and response-time measures (the dispatcher's hook).

    ``hold`` (optional) defers a breach while maintenance covers the incident (``defer_breach``).
    """

    def __init__(self, store: Store, metrics: Metrics, clock: Any, hold: Hold | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.hold = hold

    async def run(self, job: Job) -> None:
        """Execute the claimed ``target`` row ``job`` and commit its outcome; metrics after the commit."""
        now = self.clock.now()
        event = job.payload.get("event")
        if event == "breach":
            def breach(tx: Any) -> str | None:
                if self.hold is not None and defer_breach(tx, job, now, self.hold):
                    return None
                severity = apply_breach(tx, job, now)
                tx.finish_job(job.id, "done" if severity else "cancelled", now, {"breached": bool(severity)})
                return severity

            severity = await self.store.transaction(breach)
            if severity:
                self.metrics.response_breaches.labels(severity=severity).inc()
                log.warning("response target missed", incident=job.incident_id, severity=severity)
            return
        await self.store.transaction(lambda tx: tx.finish_job(job.id, "done", now, {}))
        histogram: Mapping[str, Any] = {"acknowledged": self.metrics.time_to_acknowledge,
                                        "resolved": self.metrics.time_to_resolve}
        h = histogram.get(str(event))
        if h is not None:
            h.labels(severity=str(job.payload.get("severity", ""))).observe(float(job.payload.get("seconds", 0.0)))
