"""Turn committed alert state changes into incidents, timeline events and work rows.

``apply`` runs inside one store transaction: it matches each changed alert against the rules,
opens, joins, reopens or resolves incidents, and enqueues the playbook's first step and the
escalation policy's pages. On SQLite it runs inside ingest's own group commit, so the alerts are
stored already processed; elsewhere (PostgreSQL), ``process_pending`` claims pending alert rows
and applies them, committed together with clearing their pending flag. Either way a crash at any
point redoes the whole batch or none of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from receiver.escalation.planner import PlannedJob, paged_receivers, plan_pages
from receiver.escalation.targets import plan_breach
from receiver.incidents.lifecycle import notify_joined, resolve
from receiver.incidents.truncated import TRUNCATED_TIMEOUT, note_truncation, release_held, truncated_event
from receiver.model import AlertRecord, Incident, IncidentAlert, TimelineEvent, new_incident_id
from receiver.playbooks.payload import playbook_payload
from receiver.rules import CompiledRule, RuleSet
from receiver.rules.calendar import explain_severity

#: Alerts per transaction: small, so ingest's group commits never wait long behind the dispatcher.
BATCH = 20
#: Seconds: an alert joining or resolving moves its incident's ``updated_at`` only when that is at
#: least this old (a storm of alerts rewrites the incident row once a second, not once per alert).
UPDATED_AT_GRANULARITY = 1.0


@dataclass
class ProcessResult:
    """What one batch did: alerts processed, incidents opened by severity, rule hits, jobs enqueued."""

    processed: int = 0
    opened: Counter[str] = field(default_factory=Counter)
    rule_hits: Counter[str] = field(default_factory=Counter)
    enqueued: int = 0
    incidents: list[str] = field(default_factory=list)
    #: (event, incident id, rule, severity, title) for each incident opened, reopened or resolved.
    changes: list[tuple[str, str, str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ProcessorFactory:
    """A picklable recipe for ``Processor(...).apply``: what the SQLite ingest process calls.

    It carries the rule set in force (not the file names), so the other process applies exactly
    the rules this one validated and loaded.
    """

    rules: RuleSet
    reopen_window: float
    heartbeat_alertname: str = ""
    truncated_timeout: float = TRUNCATED_TIMEOUT

    def __call__(self) -> Callable[[Any, list[AlertRecord], float], ProcessResult]:
        """Return a fresh ``Processor``'s ``apply``."""
        return Processor(self.rules, reopen_window=self.reopen_window, heartbeat_alertname=self.heartbeat_alertname,
                         truncated_timeout=self.truncated_timeout).apply


def _title(rule: CompiledRule, labels: dict[str, str]) -> str:
    ident = rule.identity(labels)
    name = labels.get("alertname", rule.name)
    extra = ", ".join(f"{k}={v}" for k, v in ident.items() if k != "alertname" and v)
    return f"{name} ({extra})" if extra else name


def _incident_alert(a: AlertRecord) -> IncidentAlert:
    return IncidentAlert(a.fingerprint, a.starts_at, a.status, a.labels, a.annotations, a.starts_ts, a.ends_ts)


def _alert_data(a: AlertRecord) -> dict[str, Any]:
    return {"fingerprint": a.fingerprint, "starts_at": a.starts_at, "labels": a.labels}


class Processor:
    """Applies alert state changes to incidents under one rule set (pure logic over a ``Tx``)."""

    def __init__(self, rules: RuleSet, *, reopen_window: float, heartbeat_alertname: str = "",
                 truncated_timeout: float = TRUNCATED_TIMEOUT) -> None:
        self._cache: dict[str, Incident] = {}
        self._cache_token: Any = None
        self.rules = rules
        self.reopen_window = reopen_window
        self.heartbeat_alertname = heartbeat_alertname
        self.truncated_timeout = truncated_timeout
        #: The alerts the last ``process_pending`` claimed, kept after its transaction failed (quarantine).
        self.claimed: list[AlertRecord] = []

    def process_pending(self, tx: Any, now: float, limit: int = BATCH) -> ProcessResult:
        """Claim up to ``limit`` pending alerts and apply them; runs inside ``Store.transaction``."""
        alerts = self.claimed = tx.claim_pending_alerts(limit)
        res = self.apply(tx, alerts, now)
        tx.mark_alerts_processed([(a.fingerprint, a.starts_at) for a in alerts])
        return res

    def note_quarantined(self, tx: Any, a: AlertRecord, reason: str, now: float) -> list[str]:
        """Put ``alert.quarantined`` on the timeline of every incident the alert's rules point at (the
        open or newest one of each identity). Returns their ids; raises what matching or the store raise."""
        noted = []
        for rule in self.rules.match(a.labels):
            inc = tx.find_incident(rule.identity_key(a.labels), open_only=False, with_alerts=False)
            if inc is None or inc.id in noted:
                continue
            tx.add_event(inc.id, TimelineEvent(
                now, "alert.quarantined", f"alert {a.fingerprint} ({a.status}) could not be applied and was "
                f"quarantined: {reason}", {"fingerprint": a.fingerprint, "starts_at": a.starts_at,
                                           "status": a.status, "reason": reason}))
            noted.append(inc.id)
        return noted

    def release_held(self, tx: Any, now: float) -> ProcessResult:
        """Resolve, unconfirmed, every incident held open by a truncated body (docs/escalation.md) that
        no body of its group reached for ``truncated_timeout`` s; runs inside ``Store.transaction``."""
        res = ProcessResult()
        for inc in release_held(tx, now, self.truncated_timeout, self.rules):
            res.incidents.append(inc.id)
            res.changes.append(("incident resolved unconfirmed", inc.id, inc.rule, inc.severity, inc.title))
        return res

    def apply(self, tx: Any, alerts: list[AlertRecord], now: float) -> ProcessResult:
        """Apply alert state changes (in order) to incidents inside the caller's transaction.

        ``now`` is epoch seconds (UTC). Reads each incident once per call; store errors propagate.
        """
        res = ProcessResult()
        # Open incidents by identity, as read or written here. Kept for the next call only when the
        # store vouches (``cache_token`` unchanged) that nothing else wrote in between and that the
        # transaction this was read in committed.
        token = getattr(tx, "cache_token", None)
        if token is None or token != self._cache_token:
            self._cache = {}
        self._open_by_identity = self._cache
        self._touched: dict[str, str] = {}  # incident id -> identity
        try:
            for a in alerts:
                if self.heartbeat_alertname and a.labels.get("alertname") == self.heartbeat_alertname:
                    continue  # the dead man's switch's heartbeat: recorded at ingest, never an incident
                for rule in self.rules.match(a.labels):
                    res.rule_hits[rule.name] += 1
                    if a.status == "firing":
                        self._firing(tx, rule, a, now, res)
                    else:
                        self._resolved(tx, rule, a, now, res)
            for iid, identity in sorted(self._touched.items()):  # one update per incident and batch
                tx.update_incident(iid, updated_at=now)
                cached = self._cache.get(identity)
                if cached is not None and cached.id == iid:
                    self._cache[identity] = replace(cached, updated_at=now)
        except BaseException:
            self._cache, self._cache_token = {}, None
            raise
        self._cache_token = token
        res.processed = len(alerts)
        return res

    def _truncation(self, tx: Any, inc: Incident, a: AlertRecord, now: float, *, hold: bool = False) -> Incident:
        inc = note_truncation(tx, inc, a, now, hold=hold, timeout=self.truncated_timeout)
        if self._open_by_identity.get(inc.identity) is not None:
            self._open_by_identity[inc.identity] = inc
        return inc

    def _touch(self, inc: Incident, now: float) -> None:
        if now - inc.updated_at >= UPDATED_AT_GRANULARITY:
            self._touched[inc.id] = inc.identity

    def _newest(self, tx: Any, identity: str, *, open_only: bool) -> Incident | None:
        """The identity's open incident (or, ``open_only=False``, its newest); open ones are read once
        and then kept (for the batch, or longer while the store's ``cache_token`` holds)."""
        inc = self._open_by_identity.get(identity)
        if inc is None:
            inc = tx.find_incident(identity, open_only=open_only, with_alerts=False)
            if inc is not None and inc.resolved_at is None:
                self._open_by_identity[identity] = inc
        return inc

    # -- firing -------------------------------------------------------------------------------
    def _firing(self, tx: Any, rule: CompiledRule, a: AlertRecord, now: float, res: ProcessResult) -> None:
        identity = rule.identity_key(a.labels)
        inc = self._newest(tx, identity, open_only=False)
        if inc is not None and inc.resolved_at is None:
            self._join(tx, inc, a, now)
            self._truncation(tx, inc, a, now)
            res.incidents.append(inc.id)
            return
        if inc is not None and inc.resolved_at is not None and now - inc.resolved_at <= self.reopen_window:
            self._reopen(tx, inc, a, now, res)
            return
        self._open(tx, rule, a, now, res)

    def _open(self, tx: Any, rule: CompiledRule, a: AlertRecord, now: float, res: ProcessResult) -> None:
        severity, why = explain_severity(self.rules, rule, now)
        inc = Incident(
            id=new_incident_id(now), identity=rule.identity_key(a.labels), rule=rule.name,
            severity=severity, status="firing", labels=rule.identity(a.labels),
            title=_title(rule, a.labels), playbook=rule.playbook, rules_version=self.rules.version,
            started_at=now, updated_at=now, mode=rule.mode, truncated=a.truncated,
            truncated_at=now if a.truncated else None,
        )
        tx.insert_incident(inc)
        self._open_by_identity[inc.identity] = inc
        tx.upsert_incident_alert(inc.id, _incident_alert(a))
        ev = tx.add_event
        ev(inc.id, TimelineEvent(now, "alert.firing", f"alert {a.labels.get('alertname', '')} firing",
                                 _alert_data(a)))
        where = f" ({rule.source.file}:{rule.source.line})" if rule.source else ""
        ev(inc.id, TimelineEvent(
            now, "rule.matched", f"rule '{rule.name}'{where} matched: severity {rule.severity}",
            {"rule": rule.name, "severity": rule.severity, "rules_version": self.rules.version,
             "playbook": rule.playbook}))
        if why is not None:  # severity_during: which interval (or exchange calendar) decided
            ev(inc.id, TimelineEvent(now, "rule.severity", f"severity {severity}: {why}",
                                     {"severity": severity, "reason": why}))
        ev(inc.id, TimelineEvent(now, "incident.opened", f"incident opened: {inc.title}", {}))
        if a.truncated:
            ev(inc.id, truncated_event(a, now))
        jobs: list[PlannedJob] = []
        playbook = self.rules.playbooks.get(rule.playbook) if rule.playbook else None
        if playbook is not None:
            jobs.append(PlannedJob(key=f"step:{inc.id}:0", kind="step", due_at=now,
                                   payload=playbook_payload(self.rules, rule, inc, playbook.steps, "main")))
        if rule.mode == "shadow":
            ev(inc.id, TimelineEvent(now, "rule.shadow", f"rule '{rule.name}' is in shadow mode: everything is "
                                     "recorded, nothing is executed or sent", {"rule": rule.name}))
        policy = self.rules.escalation_policies.get(severity)
        jobs += [PlannedJob(j.key, j.kind, j.due_at, {**j.payload, "mode": rule.mode})
                 for j in plan_pages(inc.id, 0, now, policy)]
        jobs += plan_breach(inc.id, 0, now, policy, rule.mode)
        res.enqueued += _enqueue(tx, inc.id, jobs, now)
        res.opened[severity] += 1
        res.incidents.append(inc.id)
        res.changes.append(("incident opened", inc.id, inc.rule, inc.severity, inc.title))

    def _join(self, tx: Any, inc: Incident, a: AlertRecord, now: float) -> None:
        change = tx.track_alert(inc.id, _incident_alert(a))
        if change == "joined":
            kind, msg = "alert.joined", f"alert {a.fingerprint} joined the incident"
            if inc.status == "acknowledged":
                msg += " (acknowledged: re-notifying)"
                notify_joined(tx, inc, a.fingerprint, now)
        elif change == "refired":
            kind, msg = "alert.refired", f"alert {a.fingerprint} fired again"
        else:
            return
        tx.add_event(inc.id, TimelineEvent(now, kind, msg, _alert_data(a)))
        self._touch(inc, now)

    def _reopen(self, tx: Any, inc: Incident, a: AlertRecord, now: float, res: ProcessResult) -> None:
        epoch = inc.epoch + 1
        self._open_by_identity.pop(inc.identity, None)  # re-read, with its new state, by a later alert of the batch
        tx.update_incident(inc.id, status="firing", resolved_at=None, acknowledged_at=None,
                           acknowledged_by=None, updated_at=now, epoch=epoch, truncated=a.truncated,
                           truncated_at=now if a.truncated else None, held_since=None)
        tx.upsert_incident_alert(inc.id, _incident_alert(a))
        tx.add_event(inc.id, TimelineEvent(
            now, "incident.reopened",
            f"fired again {now - (inc.resolved_at or now):.0f}s after it resolved (within the reopen "
            f"window): reopened, paging again, playbook not re-run", _alert_data(a)))
        if a.truncated:
            tx.add_event(inc.id, truncated_event(a, now))
        policy = self.rules.escalation_policies.get(inc.severity)
        jobs = plan_pages(inc.id, epoch, now, policy) + plan_breach(inc.id, epoch, now, policy, inc.mode)
        jobs += [PlannedJob(f"refresh:{inc.id}:{epoch}:reopen:{r}", "refresh", now, {"receiver": r})
                 for r in paged_receivers(tx.jobs_of(inc.id))]
        res.enqueued += _enqueue(tx, inc.id, jobs, now)
        res.opened[inc.severity] += 1
        res.incidents.append(inc.id)
        res.changes.append(("incident reopened", inc.id, inc.rule, inc.severity, inc.title))

    # -- resolved -----------------------------------------------------------------------------
    def _resolved(self, tx: Any, rule: CompiledRule, a: AlertRecord, now: float, res: ProcessResult) -> None:
        inc = self._newest(tx, rule.identity_key(a.labels), open_only=True)
        if inc is None or inc.resolved_at is not None:
            return
        tracked = tx.incident_alert(inc.id, a.fingerprint)
        if tracked is None or tracked.starts_at != a.starts_at:
            return  # an older episode, or not ours: never let it resolve a newer one
        if tracked.status == "resolved":
            # Re-sent: it reaches here only in a truncated body or the first complete one after it.
            if not (inc.truncated or a.truncated or inc.held_since is not None):
                return
        else:
            tx.upsert_incident_alert(inc.id, _incident_alert(a))
            tx.add_event(inc.id, TimelineEvent(now, "alert.resolved", f"alert {a.fingerprint} resolved",
                                               _alert_data(a)))
        still = tx.other_alert_firing(inc.id, a.fingerprint)
        res.incidents.append(inc.id)
        inc = self._truncation(tx, inc, a, now, hold=not still)
        if still or inc.held_since is not None:
            self._touch(inc, now)
            return
        res.changes.append(("incident resolved", inc.id, inc.rule, inc.severity, inc.title))
        self._open_by_identity.pop(inc.identity, None)
        resolve(tx, inc, now=now, by=None, via="alerts", rules=self.rules)


def _enqueue(tx: Any, incident_id: str, jobs: list[PlannedJob], now: float) -> int:
    return sum(1 for j in jobs if tx.enqueue(j.key, j.kind, incident_id, j.payload, j.due_at, now))
