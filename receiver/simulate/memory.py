"""An in-memory stand-in for one store transaction, so a simulation runs the real ``Processor``.

``runbookd simulate`` and ``runbookd test`` must decide exactly as ``runbookd serve`` does (which rule,
which incident, join or reopen, which pages), so they run ``receiver.incidents.processor.Processor``
itself over this ``MemoryTx`` rather than a copy of its logic. Nothing here is durable and nothing is
shared: it is the state of one simulation, thrown away afterwards. Incident ids are replaced by
``sim-1``, ``sim-2``, … in order of opening, so a plan (and a template rendering ``incident.id``) is
the same on every run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from receiver.model import AlertRecord, Incident, IncidentAlert, Job, JobKind, TimelineEvent
from receiver.store.base import JobFilter


def _unreached(name: str) -> NotImplementedError:
    return NotImplementedError(f"a simulation does not use Tx.{name}")


class MemoryTx:
    """A ``receiver.store.base.Tx`` in memory: the parts the processor and the simulation use.

    It satisfies the ``Tx`` protocol (mypy checks it wherever it is passed as one); the operations a
    simulation never reaches (claims, leases, budgets, pages' refs, listings) raise ``NotImplementedError``.

    Alert rows follow the store's upsert rule (a new ``(fingerprint, starts_at)`` is pending; an
    existing firing row becomes pending again only when it resolves; anything else is stale and
    ignored). Jobs keep the store's idempotency: ``enqueue`` of a known key adds nothing.
    """

    def __init__(self) -> None:
        self.alerts: dict[tuple[str, str], tuple[AlertRecord, bool]] = {}
        self.incidents: dict[str, Incident] = {}
        self.events: dict[str, list[TimelineEvent]] = {}
        self.jobs: list[Job] = []
        self._keys: set[str] = set()
        self._alias: dict[str, str] = {}
        self._order: list[tuple[str, str]] = []
        self.cancelled: list[int] = []

    def _id(self, incident_id: str) -> str:
        return self._alias.get(incident_id, incident_id)

    # -- alerts -----------------------------------------------------------------------------------
    def upsert_alerts(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Insert new alerts and apply firing→resolved; ignore stale states. Returns rows changed."""
        changed = 0
        for a in alerts:
            key = (a.fingerprint, a.starts_at)
            known = self.alerts.get(key)
            if known is None or (known[0].status == "firing" and a.status == "resolved"):
                self.alerts[key] = (a, True)
                if key in self._order:
                    self._order.remove(key)
                self._order.append(key)
                changed += 1
        return changed

    def claim_pending_alerts(self, limit: int) -> list[AlertRecord]:
        """Up to ``limit`` pending alerts, in the order their state last changed."""
        return [self.alerts[k][0] for k in self._order if self.alerts[k][1]][:limit]

    def mark_alerts_processed(self, keys: Sequence[tuple[str, str]]) -> None:
        """Clear the pending flag of ``(fingerprint, starts_at)`` keys."""
        for key in keys:
            if key in self.alerts:
                self.alerts[key] = (self.alerts[key][0], False)

    # -- incidents --------------------------------------------------------------------------------
    def find_incident(self, identity: str, *, open_only: bool, with_alerts: bool = True) -> Incident | None:
        """The open incident of ``identity``, or (``open_only=False``) its newest one."""
        found = [i for i in self.incidents.values()
                 if i.identity == identity and (i.resolved_at is None or not open_only)]
        return max(found, key=lambda i: i.started_at) if found else None

    def incident_alert(self, incident_id: str, fingerprint: str) -> IncidentAlert | None:
        """The alert ``fingerprint`` as the incident tracks it, or ``None``."""
        inc = self.incidents.get(self._id(incident_id))
        return next((a for a in inc.alerts if a.fingerprint == fingerprint), None) if inc else None

    def other_alert_firing(self, incident_id: str, fingerprint: str) -> bool:
        """Whether another alert of the incident still fires."""
        inc = self.incidents.get(self._id(incident_id))
        return inc is not None and any(a.fingerprint != fingerprint and a.status == "firing" for a in inc.alerts)

    def get_incident(self, incident_id: str, *, for_update: bool = False) -> Incident | None:
        """One incident with its alerts (ordered by start, then fingerprint), or ``None``."""
        return self.incidents.get(self._id(incident_id))

    def insert_incident(self, incident: Incident) -> None:
        """Insert a new incident under the next ``sim-N`` id."""
        sim_id = f"sim-{len(self.incidents) + 1}"
        self._alias[incident.id] = sim_id
        self.incidents[sim_id] = dataclasses.replace(incident, id=sim_id, alerts=())
        self.events[sim_id] = []

    def update_incident(self, incident_id: str, **fields: Any) -> None:
        """Set fields of an incident."""
        iid = self._id(incident_id)
        self.incidents[iid] = dataclasses.replace(self.incidents[iid], **fields)

    def upsert_incident_alert(self, incident_id: str, alert: IncidentAlert) -> None:
        """Track ``alert`` on the incident by fingerprint (a newer episode replaces the older)."""
        iid = self._id(incident_id)
        inc = self.incidents[iid]
        alerts = [a for a in inc.alerts if a.fingerprint != alert.fingerprint] + [alert]
        alerts.sort(key=lambda a: (a.starts_ts, a.fingerprint))
        self.incidents[iid] = dataclasses.replace(inc, alerts=tuple(alerts))

    def track_alert(self, incident_id: str, alert: IncidentAlert) -> str | None:
        """``upsert_incident_alert`` saying what changed: ``"joined"``, ``"refired"`` or ``None`` (as ``SqlTx``)."""
        prev = self.incident_alert(incident_id, alert.fingerprint)
        if prev is not None and not (prev.starts_ts < alert.starts_ts or (
                prev.starts_at == alert.starts_at and prev.status == "firing")):
            return None  # an older episode, or the same one already resolved: nothing changes
        self.upsert_incident_alert(incident_id, alert)
        if prev is None:
            return "joined"
        return "refired" if prev.starts_at != alert.starts_at else None

    def add_event(self, incident_id: str, event: TimelineEvent) -> None:
        """Append an event to the incident's timeline."""
        self.events[self._id(incident_id)].append(event)

    def timeline(self, incident_id: str) -> list[TimelineEvent]:
        """The incident's timeline, oldest first."""
        return list(self.events.get(self._id(incident_id), []))

    # -- work rows --------------------------------------------------------------------------------
    def enqueue(self, key: str, kind: JobKind, incident_id: str, payload: dict[str, Any],
                due_at: float, now: float) -> bool:
        """Add a pending row unless ``key`` exists already. Returns whether it was added."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self.jobs.append(Job(len(self.jobs) + 1, key, kind, self._id(incident_id), payload, "pending", due_at, 1))
        return True

    def next_job(self) -> Job | None:
        """The pending row due first (ties in the order they were enqueued), or ``None``."""
        pending = [j for j in self.jobs if j.state == "pending"]
        return min(pending, key=lambda j: (j.due_at, j.id)) if pending else None

    def next_due(self) -> float | None:
        """The earliest ``due_at`` of pending rows, or ``None`` (``Tx.next_due``)."""
        job = self.next_job()
        return job.due_at if job is not None else None

    def finish_job(self, job_id: int, state: str, now: float, result: dict[str, Any] | None = None) -> None:
        """Mark a row ``done``, ``failed``, ``cancelled`` or ``unknown``."""
        self.jobs[job_id - 1] = dataclasses.replace(self.jobs[job_id - 1], state=state)  # type: ignore[arg-type]

    def cancel_jobs(self, incident_id: str, kinds: Sequence[str], now: float) -> int:
        """Cancel the incident's pending rows of ``kinds``; their ids are added to ``cancelled``."""
        iid, n = self._id(incident_id), 0
        for i, j in enumerate(self.jobs):
            if j.incident_id == iid and j.state == "pending" and j.kind in kinds:
                self.jobs[i] = dataclasses.replace(j, state="cancelled")
                self.cancelled.append(j.id)
                n += 1
        return n

    def make_due(self, key: str, now: float) -> bool:
        """Make the pending row ``key`` due at ``now``. Returns whether there was one."""
        for i, j in enumerate(self.jobs):
            if j.key == key and j.state == "pending":
                self.jobs[i] = dataclasses.replace(j, due_at=now)
                return True
        return False

    def jobs_of(self, incident_id: str) -> list[Job]:
        """Every row of an incident, oldest first."""
        iid = self._id(incident_id)
        return [j for j in self.jobs if j.incident_id == iid]

    # -- not reached by a simulation ------------------------------------------------------------
    def quarantine_alert(self, fingerprint: str, starts_at: str, status: str, reason: str) -> bool:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("quarantine_alert")

    def oldest_pending_at(self) -> float | None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("oldest_pending_at")

    def held_incidents(self, before: float) -> list[Incident]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("held_incidents")

    def audit(self, at: float, action: str, subject: str, data: dict[str, Any], actor: str | None = None) -> None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("audit")

    def has_due(self, now: float) -> bool:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("has_due")

    def claim_jobs(self, now: float, limit: int, claimer: str, lease: float,
                   where: JobFilter | None = None) -> list[Job]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("claim_jobs")

    def retry_job(self, job_id: int, due_at: float, now: float, result: dict[str, Any] | None = None,
                  payload: dict[str, Any] | None = None) -> None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("retry_job")

    def set_page_ref(self, incident_id: str, receiver: str, ref: str) -> None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("set_page_ref")

    def page_ref(self, incident_id: str, receiver: str) -> str | None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("page_ref")

    def list_incidents(self, *, status: str | None, alertname: str | None, limit: int) -> list[Incident]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("list_incidents")

    def incident_page(self, *, status: str | None, severity: str | None, alertname: str | None, limit: int,
                      offset: int = 0) -> list[tuple[Incident, int]]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("incident_page")

    def alerts_page(self, incident_id: str, limit: int, after: str = "") -> list[tuple[IncidentAlert, str]]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("alerts_page")

    def alert_count(self, incident_id: str) -> int:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("alert_count")

    def timeline_page(self, incident_id: str, limit: int, offset: int = 0, *,
                      kinds: Sequence[str] = ()) -> list[TimelineEvent]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("timeline_page")

    def playbook_progress(self, incident_ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("playbook_progress")

    def audit_page(self, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("audit_page")

    def latest_change(self, incident_id: str | None = None) -> int:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("latest_change")

    def open_counts(self) -> dict[str, int]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("open_counts")

    def renew_leases(self, job_ids: Sequence[int], claimer: str, until: float) -> None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("renew_leases")

    def incidents_started_between(self, severity: str, since: float, until: float) -> list[Incident]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("incidents_started_between")

    def response_report(self, since: float, until: float) -> dict[str, dict[str, Any]]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("response_report")

    def get_state(self, key: str) -> str | None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("get_state")

    def set_state(self, key: str, value: str | None) -> None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("set_state")

    def lock_budgets(self) -> None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("lock_budgets")

    def count_actions(self, since: float, **where: Any) -> int:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("count_actions")

    def last_action_at(self, **where: Any) -> float | None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("last_action_at")

    def log_action(self, at: float, incident_id: str, rule: str, identity: str, playbook: str, step: str,
                   action: str, destructive: bool) -> None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("log_action")

    def reschedule(self, job_id: int, due_at: float, now: float, payload: dict[str, Any]) -> None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("reschedule")

    def queue_depth(self) -> dict[str, int]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("queue_depth")

    def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("first_use")

    def incident_head(self, incident_id: str, *, alerts: int = 0) -> Incident | None:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("incident_head")

    def alert_counts(self, incident_id: str) -> dict[str, int]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("alert_counts")

    def events_of_kinds(self, incident_id: str, kinds: Sequence[str], limit: int) -> tuple[list[TimelineEvent], int]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("events_of_kinds")

    def jobs_of_kinds(self, incident_id: str, kinds: Sequence[str]) -> list[Job]:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("jobs_of_kinds")

    def reserve_slot(self, key: str, now: float, interval: float, burst: int = 1) -> float:
        """Not reached by a simulation (``Tx``): raises ``NotImplementedError``."""
        raise _unreached("reserve_slot")
