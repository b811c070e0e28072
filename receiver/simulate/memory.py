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


class MemoryTx:
    """The parts of ``receiver.store.base.Tx`` the processor and the simulation use, in memory.

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

    def next_due(self) -> Job | None:
        """The pending row due first (ties in the order they were enqueued), or ``None``."""
        pending = [j for j in self.jobs if j.state == "pending"]
        return min(pending, key=lambda j: (j.due_at, j.id)) if pending else None

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
