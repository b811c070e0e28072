"""Plan what runbookd would do with some alerts: the ``Plan`` that ``simulate`` prints and ``test`` checks.

Pure: no store, no network, no clock. The alerts arrive at given times; the real ``Processor`` (over a
``MemoryTx``) decides rule, severity, incident identity and the work rows, exactly as ``runbookd
serve`` does; then the rows are played in time order the way the runner and the sender would play
them, without running any action or sending anything:

- a playbook step renders its parameters with ``receiver.playbooks.render`` (the runner's sandbox,
  context and redaction) and is recorded, then the next step follows at once;
- a page is sent when it is due unless the incident is acknowledged or resolved by then (paging
  steps stop once acknowledged; a page due exactly at ``ack_at`` is not sent);
- ``ack_at`` acknowledges through ``receiver.incidents.lifecycle.acknowledge``, as the admin API
  does: pending pages are cancelled and each receiver already paged gets an ``ack``;
- a status update goes to the policy's ``updates.notify`` every ``updates.every`` until resolved
  (acknowledging does not stop updates);
- when the last alert resolves, pending pages and updates are cancelled and each receiver already
  paged gets a ``resolve`` (and, as the lifecycle decides, e.g. a ``postmortem`` link); the
  playbook is not undone.

Every row that reaches a receiver is a notification of the plan, under the row's kind; edits of a
page in place after a playbook (``refresh``) are not listed.

The result is a JSON-ready ``dict`` (see ``plan``); times are given as ``{"at": RFC 3339, "offset":
"5m", "seconds": 300.0}`` from the plan's start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from receiver.clock import iso
from receiver.durations import format_duration
from receiver.errors import ActionError
from receiver.escalation.planner import next_update_due, paged_receivers, plan_update
from receiver.escalation.targets import apply_breach
from receiver.incidents.lifecycle import acknowledge
from receiver.incidents.processor import Processor
from receiver.ingest.payload import WebhookPayload, canonical_time, to_records
from receiver.jobkinds import kinds
from receiver.model import AlertRecord, Incident, Job
from receiver.notify import channel_traits
from receiver.playbooks.outcome import apply_on_failure
from receiver.playbooks.render import redact, render_value, template_context
from receiver.playbooks.runner import WAIT_POLL
from receiver.playbooks.steps import current
from receiver.rules import RuleSet
from receiver.rules.model import Step, StepModel, dump_step
from receiver.rules.safety import OnFailure
from receiver.settings import Settings
from receiver.simulate.branches import branch_and_verify
from receiver.simulate.given import Given, decide
from receiver.simulate.memory import MemoryTx

UPDATES_SHOWN = 3
"""How many status updates the default horizon of ``simulate`` shows per incident."""



def _step_options() -> frozenset[str]:
    classes = get_args(get_args(Step)[0])
    keys = [frozenset(info.alias or name for name, info in c.model_fields.items()) for c in classes]
    return frozenset.intersection(*keys)


def _own_keys() -> dict[str, list[str]]:
    out = {}
    for c in get_args(get_args(Step)[0]):
        own = c.__dict__.get("__annotations__", {})
        [action] = get_args(c.model_fields["action"].annotation)
        out[action] = [info.alias or name for name, info in c.model_fields.items() if name in own]
    return out


STEP_OPTIONS = _step_options() | {"verify", "verify_interval", "verify_timeout"}
_OWN_KEYS = _own_keys()
"""Keys every step type has (``name``, ``action``, ``timeout``, approval, preconditions …): how a step
runs, not what its action receives. Every other key of a step is a parameter, rendered as a template."""
REDACTED = "<redacted>"
SILENT_KINDS = kinds(notifies=False)
"""Work rows that are not notifications of the plan (a step; an edit of a page in place), from ``receiver.jobkinds``."""
_DEFAULTS = Settings()


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (Prometheus ``LabelSet.Fingerprint``: FNV-1a 64)."""
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for byte in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


@dataclass(frozen=True)
class SimAlert:
    """One alert of a simulation: when its firing state arrives (``fire_at``) and when its resolved
    state arrives (``resolve_at``), as epoch seconds; either may be ``None``. ``starts_at`` is the
    alert's ``startsAt`` (it and the fingerprint make the store's alert key)."""

    labels: dict[str, str]
    starts_at: float
    fire_at: float | None
    resolve_at: float | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""
    starts_at_text: str = ""
    generator_url: str = ""

    def key(self) -> tuple[str, str]:
        """``(fingerprint, canonical startsAt)``: the alert's key in the store."""
        fp = self.fingerprint or fingerprint(self.labels)
        text = self.starts_at_text or canonical_time(datetime.fromtimestamp(self.starts_at, UTC))
        return fp, text

    def record(self, status: str, at: float) -> AlertRecord:
        """The ``AlertRecord`` Alertmanager would deliver with ``status`` at ``at``."""
        fp, text = self.key()
        return AlertRecord(fp, text, status, dict(self.labels), dict(self.annotations),  # type: ignore[arg-type]
                           self.starts_at, at if status == "resolved" else None, self.generator_url)


class _AnySecret(dict[str, str]):
    """Template secrets when no deployment is given: every name is set, and shows as ``<redacted>``."""

    def __missing__(self, key: str) -> str:
        return REDACTED


@dataclass(frozen=True)
class Deployment:
    """What a plan takes from ``runbookd.yml`` (defaults: runbookd.yml's): template ``vars`` and
    ``secrets`` (``None``: every secret is treated as set and renders as ``<redacted>``), the values to
    redact, the reopen window (seconds), the external URL (``incident.url``) and the heartbeat
    alert name (alerts of that name open no incident)."""

    vars: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str | None] | None = None
    secret_values: tuple[str, ...] = ()
    reopen_window: float = _DEFAULTS.reopen_window
    external_url: str = _DEFAULTS.external_url
    heartbeat_alertname: str = _DEFAULTS.heartbeat.alertname

    @classmethod
    def from_settings(cls, settings: Settings) -> Deployment:
        """The deployment of a loaded ``runbookd.yml``."""
        return cls(dict(settings.vars), dict(settings.secrets), tuple(settings.secret_values()),
                   settings.reopen_window, settings.external_url, settings.heartbeat.alertname)


def alerts_from_payload(payload: WebhookPayload, at: float | None = None) -> tuple[list[SimAlert], float]:
    """The alerts of an Alertmanager webhook payload arriving at ``at``, and the first arrival (the
    plan's start: ``at``, or an earlier ``startsAt`` of a resolved alert).

    ``at`` defaults to the latest ``startsAt`` (or, for a resolved alert, ``endsAt``) in the payload,
    so a captured payload simulates the same way every time. A resolved alert is taken as firing
    since its ``startsAt`` (or ``at`` if later), so the plan shows what its resolution does.
    """
    records = to_records(payload)
    if not records:
        return [], at if at is not None else 0.0
    if at is None:
        at = max(r.ends_ts if r.ends_ts is not None else r.starts_ts for r in records)
    out = []
    for r in records:
        fire_at = at if r.status == "firing" else min(r.starts_ts, at)
        resolve_at = at if r.status == "resolved" else None
        out.append(SimAlert(dict(r.labels), r.starts_ts, fire_at, resolve_at, dict(r.annotations),
                            r.fingerprint, r.starts_at, r.generator_url))
    return out, min(t for a in out for t in (a.fire_at, a.resolve_at) if t is not None)


def default_until(rules: RuleSet, alerts: Sequence[SimAlert], ack_at: float | None = None) -> float:
    """A horizon that shows every escalation step and the first ``UPDATES_SHOWN`` status updates of
    each incident the alerts would open, and every arrival and the ack (epoch seconds)."""
    ends = [t for a in alerts for t in (a.fire_at, a.resolve_at) if t is not None]
    ends += [ack_at] if ack_at is not None else []
    for a in alerts:
        if a.fire_at is None:
            continue
        for rule in rules.match(a.labels):
            policy = rules.escalation_policies.get(rule.severity)
            if policy is not None:
                spans = [s.after for s in policy.steps]
                spans += [UPDATES_SHOWN * policy.updates.every] if policy.updates is not None else []
                ends.append(a.fire_at + max(spans, default=0.0))
    return max(ends, default=0.0)


def plan(rules: RuleSet, alerts: Sequence[SimAlert], *, until: float, ack_at: float | None = None,
         start: float | None = None, deployment: Deployment | None = None,
         given: Given | None = None) -> dict[str, Any]:
    """Simulate ``alerts`` under ``rules`` up to ``until`` (epoch seconds) and return the plan.

    ``ack_at`` acknowledges every incident still firing at that time. Offsets count from ``start``
    (default: the first arrival; it must not be later than any arrival). Keys: ``start``, ``until``,
    ``ack_at``, ``rules_version``, ``rule_files``, ``alerts`` (each with the rules it matches and
    the incidents it is part of) and ``incidents`` (in order of
    opening: rule, source, severity, identity, status at ``until``, playbook steps with rendered
    parameters, escalation policy, notifications sent, notifications not sent and why, what resolve
    does, and the processor's timeline). ``given``: a unit test's stated approvals and results
    (``receiver.simulate.given``); without it every step succeeds and every approval is granted.
    """
    sim = _Simulation(rules, deployment or Deployment(), alerts, ack_at, start)
    sim.given = given or Given()
    sim.run(until)
    return sim.result(until)


class _Simulation:
    """One simulation's state: the in-memory transaction and what was rendered and sent."""

    def __init__(self, rules: RuleSet, deployment: Deployment, alerts: Sequence[SimAlert],
                 ack_at: float | None, start: float | None) -> None:
        self.rules = rules
        self.dep = deployment
        self.alerts = list(alerts)
        self.ack_at = ack_at
        self.tx = MemoryTx()
        self.given = Given()
        self.processor = Processor(rules, reopen_window=deployment.reopen_window,
                                   heartbeat_alertname=deployment.heartbeat_alertname)
        arrivals = [(a.fire_at, i, a.record("firing", a.fire_at))
                    for i, a in enumerate(alerts) if a.fire_at is not None]
        arrivals += [(a.resolve_at, i, a.record("resolved", a.resolve_at))
                     for i, a in enumerate(alerts) if a.resolve_at is not None]
        self.arrivals = sorted(arrivals, key=lambda x: (x[0], x[2].status == "resolved", x[1]))
        times = [t for t, _, _ in self.arrivals] + ([ack_at] if ack_at is not None else [])
        first = min(times) if times else 0.0
        if start is not None and start > first:
            raise ValueError("start must not be later than the first arrival")
        self.start = first if start is None else start
        self.steps: dict[str, list[dict[str, Any]]] = {}
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.suppressed: dict[str, list[dict[str, Any]]] = {}
        self.cancel_reason: dict[int, str] = {}

    def when(self, t: float) -> dict[str, Any]:
        """``t`` (epoch seconds) as the plan gives times: RFC 3339, offset from the start, seconds."""
        return {"at": iso(t), "offset": format_duration(t - self.start), "seconds": round(t - self.start, 3)}

    def run(self, until: float) -> None:
        """Play arrivals, the acknowledgement and due work rows in time order up to ``until``."""
        pending_ack = self.ack_at is not None
        while True:
            t_alert = self.arrivals[0][0] if self.arrivals else math.inf
            t_ack = self.ack_at if pending_ack and self.ack_at is not None else math.inf
            job = self.tx.next_job()
            t_job = job.due_at if job is not None else math.inf
            now = min(t_alert, t_ack, t_job)
            if now > until or now == math.inf:
                return
            if t_alert == now:  # as the dispatcher does: alerts first, then what is due
                batch = [r for t, _, r in self.arrivals if t == now]
                self.arrivals = [x for x in self.arrivals if x[0] != now]
                self.tx.upsert_alerts(batch, now)
                while self.processor.process_pending(self.tx, now).processed:
                    pass
                self._cancelled("resolved")
            elif t_ack == now:
                pending_ack = False
                for inc in list(self.tx.incidents.values()):
                    if inc.status == "firing":
                        acknowledge(self.tx, inc.id, by="simulation", via="api", now=now, rules=self.rules)
                self._cancelled("acknowledged")
            elif job is not None:
                self._run(job, now)

    def _cancelled(self, reason: str) -> None:
        for job_id in self.tx.cancelled:
            self.cancel_reason.setdefault(job_id, reason)
        self.tx.cancelled.clear()

    # -- work rows, played as the runner and the sender would -------------------------------------
    def _run(self, job: Job, now: float) -> None:
        inc = self.tx.get_incident(job.incident_id)
        assert inc is not None
        state = "done"
        receiver = job.payload.get("receiver")
        if job.kind == "step":
            self._step(job, inc, now)
        elif job.kind == "target":  # a response target's breach escalates at once, as in serve
            if job.payload.get("event") == "breach" and apply_breach(self.tx, job, now) is None:
                state = "cancelled"
        elif job.kind == "update":
            self._update(job, inc, now)
        elif job.kind == "page" and inc.status != "firing":
            self._suppress(job, inc.id, receiver, inc.status, now)
            state = "cancelled"
        elif job.kind == "postmortem":  # the draft's link goes to the thread of each page on a chat channel
            for r in paged_receivers(self.tx.jobs_of(inc.id)):
                rcv = self.rules.receivers.get(r)
                if rcv is not None and channel_traits(rcv.kind).chat:
                    self._notify(job, inc.id, r, now)
        elif job.kind not in SILENT_KINDS and receiver is not None:
            self._notify(job, inc.id, receiver, now)
        self.tx.finish_job(job.id, state, now)

    def _step(self, job: Job, inc: Incident, now: float) -> None:
        """Render and record a step, then enqueue the next one as the runner does. The plan assumes
        each step succeeds and each approval is granted; preconditions and limits are shown, not
        evaluated. ``wait_for_resolved`` waits, polling as the runner does, until the incident
        resolves or its duration passes; a ``notify`` step sends its notices."""
        p = job.payload
        index: int = p["index"]
        step = current(p)
        prefix = p.get("key_prefix") or f"step:{inc.id}"
        waiting = "wait_started" in p
        if waiting:
            entry = self.steps[inc.id][-1]
        else:
            entry = self._render_step(p, step, inc, now)
            self.steps.setdefault(inc.id, []).append(entry)
        params = entry["params"] or {}
        if step.action == "wait_for_resolved":
            started = float(p.get("wait_started", now))
            deadline = started + float(params.get("duration", 0))
            if inc.status != "resolved" and now < deadline:
                due = min(deadline, now + WAIT_POLL)
                self.tx.enqueue(f"{prefix}:{index}:wait:{due}", "step", inc.id, {**p, "wait_started": started},
                                due, now)
                return
            entry["outcome"] = "resolved" if inc.status == "resolved" else "failed: not resolved in time"
            entry["finished"] = self.when(now)
        if step.action == "wait":
            started = float(p.get("wait_started", now))
            deadline = started + float(params.get("duration", 0))
            if now < deadline:
                self.tx.enqueue(f"{prefix}:{index}:wait", "step", inc.id, {**p, "wait_started": started}, deadline, now)
                return
            entry["outcome"], entry["finished"] = f"waited {format_duration(deadline - started)}", self.when(now)
        result, why, known = decide(step, self.given)
        stop = False
        if entry.get("branch", {}).get("taken") is False:
            entry["outcome"], entry["finished"] = "skipped (if: false)", self.when(now)
            result, known = "skipped", {"outcome": "skipped", "summary": "if: false", "data": {}}
        elif result != "ok":
            entry["outcome"], entry["finished"] = f"{result}: {why}", self.when(now)
            stop = self._on_failure(inc, step, p, result, why, now)
        elif step.action == "notify" and p.get("mode") != "shadow":
            for r in params.get("notify", []):
                self.tx.enqueue(f"notice:{inc.id}:{inc.epoch}:step-{index}-{step.name}:{r}", "notice", inc.id,
                                {"receiver": r, "text": params.get("message", "")}, now, now)
        entry["result"] = result
        if index + 1 < len(p["steps"]) and not stop:
            carried = {k: v for k, v in p.items() if k != "wait_started"}
            if known is not None:
                carried["results"] = {**(p.get("results") or {}), step.name: known}
            self.tx.enqueue(f"{prefix}:{index + 1}", "step", inc.id, {**carried, "index": index + 1}, now, now)

    def _on_failure(self, inc: Incident, step: StepModel, p: dict[str, Any], result: str, why: str,
                    now: float) -> bool:
        """A stated failure or rejection: apply the step's ``on_failure`` (default: page) as the runner
        does, in the plan's store. Returns whether the playbook stops."""
        declared = step.on_skip if result == "skipped" else step.on_failure
        if declared is None and result == "skipped":
            return False
        on_failure = declared or OnFailure(page=True)
        text = f"ACTION NEEDED: step '{step.name}' of {inc.title} {result}: {why}"
        tag = f"step-{p.get('phase', 'main')}-{p['index']}"
        return apply_on_failure(self.tx, inc.id, self.rules, on_failure, text, tag, now)

    def _render_step(self, p: dict[str, Any], step: StepModel, inc: Incident, now: float) -> dict[str, Any]:
        stored = dump_step(step)  # the step's keys as written, in the model's order
        options = {k: v for k, v in stored.items()
                   if k in STEP_OPTIONS and k not in ("name", "action", "timeout") and v is not None}
        entry: dict[str, Any] = {"index": p["index"], "name": step.name, "action": step.action,
                                 "phase": p.get("phase", "main"), "timeout": step.timeout,
                                 "options": options, "shadow": p.get("mode") == "shadow",
                                 "rules_version": p.get("rules_version"), **self.when(now)}
        entry.update(branch_and_verify(step, self._context(inc), self.rules.in_interval, now, p.get("results")))
        try:
            own = _OWN_KEYS.get(step.action, [])  # the action's own keys first, then inherited ones
            keys = [k for k in own if k in stored] + [k for k in stored if k not in own]
            keys = [k for k in keys if k not in STEP_OPTIONS]
            rendered = render_value({k: stored[k] for k in keys}, self._context(inc))
            entry["params"] = redact(rendered, list(self.dep.secret_values))
        except ActionError as e:
            entry["params"], entry["error"] = None, redact(e.reason, list(self.dep.secret_values))
        return entry

    def _context(self, inc: Incident) -> dict[str, Any]:
        secrets = self.dep.secrets
        ctx = template_context(inc, inc.alerts[0] if inc.alerts else None, vars=dict(self.dep.vars),
                               secrets=dict(secrets or {}),
                               incident_url=f"{self.dep.external_url}/incidents/{inc.id}")
        if secrets is None:
            ctx["secrets"] = _AnySecret()
        return ctx

    def _update(self, job: Job, inc: Incident, now: float) -> None:
        policy = self.rules.escalation_policies.get(inc.severity)
        if inc.status == "resolved" or policy is None or policy.updates is None:
            return
        for receiver in policy.updates.notify:
            self._notify(job, inc.id, receiver, now)
        nxt = plan_update(inc.id, job.payload.get("epoch", 0), job.payload.get("n", 1) + 1,
                          next_update_due(job.due_at, policy.updates.every, now))
        self.tx.enqueue(nxt.key, "update", inc.id, nxt.payload, nxt.due_at, now)

    def _entry(self, job: Job, receiver: Any, at: float) -> dict[str, Any]:
        rcv = self.rules.receivers.get(receiver) if isinstance(receiver, str) else None
        return {"receiver": receiver, "channel": rcv.kind if rcv is not None else None, "kind": job.kind,
                "step": job.payload.get("step"), "epoch": job.payload.get("epoch", 0),
                "shadow": job.payload.get("mode") == "shadow", **self.when(at)}

    def _notify(self, job: Job, incident_id: str, receiver: Any, now: float) -> None:
        self.sent.setdefault(incident_id, []).append(self._entry(job, receiver, now))

    def _suppress(self, job: Job, incident_id: str, receiver: Any, reason: str, now: float) -> None:
        self.suppressed.setdefault(incident_id, []).append({**self._entry(job, receiver, now), "reason": reason})

    # -- the result -------------------------------------------------------------------------------
    def result(self, until: float) -> dict[str, Any]:
        """The plan (see ``plan``)."""
        for job in self.tx.jobs:  # rows an acknowledgement or the resolution cancelled before they were due
            reason = self.cancel_reason.get(job.id)
            if reason is not None and job.due_at <= until:
                receivers = [job.payload.get("receiver")] if job.kind != "update" else self._update_receivers(job)
                for r in receivers:
                    self._suppress(job, job.incident_id, r, reason, job.due_at)
        for entries in self.suppressed.values():
            entries.sort(key=lambda e: e["seconds"])
        return {
            "start": iso(self.start),
            "until": self.when(until),
            "ack_at": self.when(self.ack_at) if self.ack_at is not None else None,
            "rules_version": self.rules.version,
            "rule_files": list(self.rules.files),
            "calendar": self.rules.calendar.exchange if self.rules.calendar is not None else None,
            "alerts": [self._alert(a) for a in self.alerts],
            "incidents": [self._incident(i, n) for n, i in enumerate(self.tx.incidents.values(), 1)],
        }

    def _update_receivers(self, job: Job) -> list[Any]:
        inc = self.tx.get_incident(job.incident_id)
        policy = self.rules.escalation_policies.get(inc.severity) if inc is not None else None
        return list(policy.updates.notify) if policy is not None and policy.updates is not None else []

    def _alert(self, a: SimAlert) -> dict[str, Any]:
        fp, starts = a.key()
        hb = self.dep.heartbeat_alertname
        return {
            "fingerprint": fp, "labels": dict(a.labels), "annotations": dict(a.annotations), "starts_at": starts,
            "fire_at": self.when(a.fire_at) if a.fire_at is not None else None,
            "resolve_at": self.when(a.resolve_at) if a.resolve_at is not None else None,
            "rules": [r.name for r in self.rules.match(a.labels)],
            "heartbeat": bool(hb) and a.labels.get("alertname") == hb,
            "incidents": [i.id for i in self.tx.incidents.values() if any(x.fingerprint == fp for x in i.alerts)],
        }

    def _incident(self, inc: Incident, number: int) -> dict[str, Any]:
        rule = self.rules.rule(inc.rule)
        playbook = self.rules.playbooks.get(inc.playbook) if inc.playbook else None
        policy = self.rules.escalation_policies.get(inc.severity)
        timeline = self.tx.timeline(inc.id)
        return {
            "number": number, "id": inc.id, "rule": inc.rule,
            "source": str(rule.source) if rule is not None and rule.source is not None else None,
            "severity": inc.severity, "mode": getattr(rule, "mode", "active"),
            "severity_reason": next((e.data.get("reason") for e in timeline if e.kind == "rule.severity"), None),
            "identity": dict(inc.labels), "identity_key": inc.identity,
            "title": inc.title, "rules_version": inc.rules_version, "status": inc.status,
            "opened": self.when(inc.started_at),
            "acknowledged": self.when(inc.acknowledged_at) if inc.acknowledged_at is not None else None,
            "resolved": self.when(inc.resolved_at) if inc.resolved_at is not None else None,
            "reopened": [self.when(e.at) for e in timeline if e.kind == "incident.reopened"],
            "alerts": [{"fingerprint": a.fingerprint, "status": a.status} for a in inc.alerts],
            "playbook": None if inc.playbook is None else {
                "name": inc.playbook, "description": playbook.description if playbook is not None else "",
                "steps": self.steps.get(inc.id, []),
            },
            "escalation": None if policy is None else {
                "severity": inc.severity,
                "steps": [{"after": format_duration(s.after), "after_seconds": s.after, "notify": list(s.notify)}
                          for s in policy.steps],
                "updates": None if policy.updates is None else {
                    "every": format_duration(policy.updates.every), "every_seconds": policy.updates.every,
                    "notify": list(policy.updates.notify)},
            },
            "notifications": self.sent.get(inc.id, []),
            "suppressed": self.suppressed.get(inc.id, []),
            "on_resolve": {"notify": paged_receivers(self.tx.jobs_of(inc.id)), "undo": False},
            "timeline": [{"kind": e.kind, "message": e.message, **self.when(e.at)} for e in timeline],
        }
