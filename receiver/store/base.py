"""The ``Store`` protocol: durable alerts, incidents, timelines and claimable work rows.

One interface, several backends (SQLite now, PostgreSQL for several replicas). Domain code runs
*units of work* through ``Store.transaction(fn)``: ``fn`` is synchronous, receives a ``Tx`` and runs on
the store's own thread inside one database transaction, so a unit of work costs one thread hop and
either commits whole or not at all. Work waiting to be done is rows, never an in-memory queue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from receiver.model import AlertRecord, Incident, IncidentAlert, Job, JobKind, TimelineEvent

T = TypeVar("T")
#: The state key holding when the dead man's switch heartbeat alert last arrived (``repr`` of epoch seconds).
HEARTBEAT_KEY = "heartbeat.last_seen"
#: A clause of a ``JobFilter``: rows of these kinds and, unless ``None``, whose payload ``receiver``
#: is one of these names.
JobClause = tuple[tuple[str, ...], tuple[str, ...] | None]


def heartbeat_seen(batch: Sequence[tuple[Sequence[AlertRecord], float]], alertname: str) -> float | None:
    """When a group commit's batch last carried the heartbeat alert firing (epoch seconds), or ``None``.

    ``batch`` is ``(alerts, receive time)`` per request; ``alertname`` is ``heartbeat.alertname``
    (empty: no dead man's switch, always ``None``). The stores write it to ``HEARTBEAT_KEY`` in the
    same transaction as the alerts, so a heartbeat is recorded exactly when its webhook is committed.
    """
    if not alertname:
        return None
    seen = [now for alerts, now in batch
            if any(a.status == "firing" and a.labels.get("alertname") == alertname for a in alerts)]
    return max(seen) if seen else None


@dataclass(frozen=True)
class JobFilter:
    """Which work rows a claim may take (a bulkhead's share of the queue).

    A row matches when it matches any ``include`` clause (every row when ``include`` is empty) and
    no ``exclude`` clause. A row with no ``receiver`` in its payload never matches a clause that
    names receivers.
    """

    include: tuple[JobClause, ...] = ()
    exclude: tuple[JobClause, ...] = ()



class Tx(Protocol):
    """Operations inside one transaction (synchronous; runs on the store's thread)."""

    def upsert_alerts(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Insert new alerts and apply firing→resolved; ignore stale states. Returns rows changed."""
        ...

    def claim_pending_alerts(self, limit: int) -> list[AlertRecord]:
        """Return up to ``limit`` alerts whose state change is not processed yet (locked for us)."""
        ...

    def mark_alerts_processed(self, keys: Sequence[tuple[str, str]]) -> None:
        """Clear the pending flag of ``(fingerprint, starts_at)`` keys."""
        ...

    def quarantine_alert(self, fingerprint: str, starts_at: str, status: str, reason: str) -> bool:
        """Set a pending alert state aside for good with ``reason``; whether it was still pending."""
        ...

    def oldest_pending_at(self) -> float | None:
        """When (epoch seconds) the oldest pending alert state was stored, or ``None``."""
        ...

    def held_incidents(self, before: float) -> list[Incident]:
        """Open incidents a truncated body holds open whose last such body came before ``before``."""
        ...

    def find_incident(self, identity: str, *, open_only: bool, with_alerts: bool = True) -> Incident | None:
        """Return the open incident of ``identity``, or (``open_only=False``) its newest one."""
        ...

    def incident_alert(self, incident_id: str, fingerprint: str) -> IncidentAlert | None:
        """The alert ``fingerprint`` as the incident tracks it, or ``None``."""
        ...

    def other_alert_firing(self, incident_id: str, fingerprint: str) -> bool:
        """Whether another alert of the incident still fires."""
        ...

    def get_incident(self, incident_id: str, *, for_update: bool = False) -> Incident | None:
        """Return one incident with its alerts, or ``None``."""
        ...

    def insert_incident(self, incident: Incident) -> None:
        """Insert a new incident (its alerts are added with ``upsert_incident_alert``)."""
        ...

    def update_incident(self, incident_id: str, **fields: Any) -> None:
        """Set columns of an incident (``status``, ``resolved_at``, ``acknowledged_by`` …)."""
        ...

    def upsert_incident_alert(self, incident_id: str, alert: IncidentAlert) -> None:
        """Track ``alert`` on the incident by fingerprint (a newer episode replaces the older)."""
        ...

    def track_alert(self, incident_id: str, alert: IncidentAlert) -> str | None:
        """``upsert_incident_alert`` that returns ``"joined"`` (new to the incident), ``"refired"`` (a
        newer episode) or ``None`` (the same or an older episode: nothing changed)."""
        ...

    def add_event(self, incident_id: str, event: TimelineEvent) -> None:
        """Append an event to the incident's timeline (and queue its audit record)."""
        ...

    def audit(self, at: float, action: str, subject: str, data: dict[str, Any], actor: str | None = None) -> None:
        """Queue an audit record that is no timeline event; written at COMMIT (receiver/store/audit.py)."""
        ...

    def enqueue(self, key: str, kind: JobKind, incident_id: str, payload: dict[str, Any],
                due_at: float, now: float) -> bool:
        """Add a work row unless ``key`` exists already. Returns whether it was added."""
        ...

    def has_due(self, now: float) -> bool:
        """Whether any row is due now (no lock taken)."""
        ...

    def claim_jobs(self, now: float, limit: int, claimer: str, lease: float,
                   where: JobFilter | None = None) -> list[Job]:
        """Claim up to ``limit`` due rows (pending, or running with an expired lease) for ``lease`` s,
        only rows matching ``where`` when given."""
        ...

    def finish_job(self, job_id: int, state: str, now: float, result: dict[str, Any] | None = None) -> None:
        """Mark a claimed row ``done``, ``failed``, ``cancelled`` or ``unknown``."""
        ...

    def retry_job(self, job_id: int, due_at: float, now: float, result: dict[str, Any] | None = None,
                  payload: dict[str, Any] | None = None) -> None:
        """Put a claimed row back to ``pending`` until ``due_at`` (with a new ``payload`` when given)."""
        ...

    def cancel_jobs(self, incident_id: str, kinds: Sequence[str], now: float) -> int:
        """Cancel the incident's pending rows of ``kinds``. Returns how many."""
        ...

    def jobs_of(self, incident_id: str) -> list[Job]:
        """Every work row of an incident, oldest first."""
        ...

    def set_page_ref(self, incident_id: str, receiver: str, ref: str) -> None:
        """Remember the provider reference of the page sent to ``receiver``."""
        ...

    def page_ref(self, incident_id: str, receiver: str) -> str | None:
        """Return the provider reference of the page sent to ``receiver``, if any."""
        ...

    def timeline(self, incident_id: str) -> list[TimelineEvent]:
        """The incident's timeline, oldest first."""
        ...

    def list_incidents(self, *, status: str | None, alertname: str | None, limit: int) -> list[Incident]:
        """Incidents newest first, optionally filtered by status or by an alert's alertname."""
        ...

    def incident_page(self, *, status: str | None, severity: str | None, alertname: str | None, limit: int,
                      offset: int = 0) -> list[tuple[Incident, int]]:
        """One page of incidents newest first, without alerts, each with its alert count (the console)."""
        ...

    def alerts_page(self, incident_id: str, limit: int, after: str = "") -> list[tuple[IncidentAlert, str]]:
        """One page of an incident's alerts by fingerprint after ``after``, each with its ``generatorURL``."""
        ...

    def alert_count(self, incident_id: str) -> int:
        """How many alerts the incident tracks."""
        ...

    def timeline_page(self, incident_id: str, limit: int, offset: int = 0, *,
                      kinds: Sequence[str] = ()) -> list[TimelineEvent]:
        """One page of the timeline, newest first; only kinds starting with one of ``kinds`` when given."""
        ...

    def playbook_progress(self, incident_ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
        """Per incident: playbook steps finished, and ``done``/``stopped`` once the playbook ended."""
        ...

    def audit_page(self, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """One page of the audit log, newest first."""
        ...

    def latest_change(self, incident_id: str | None = None) -> int:
        """A number that grows whenever any incident (or ``incident_id``) changes (server-sent events poll it)."""
        ...

    def open_counts(self) -> dict[str, int]:
        """Number of unresolved incidents by severity."""
        ...

    def renew_leases(self, job_ids: Sequence[int], claimer: str, until: float) -> None:
        """Extend the lease of rows ``claimer`` still runs to ``until`` (epoch seconds)."""
        ...

    def incidents_started_between(self, severity: str, since: float, until: float) -> list[Incident]:
        """Incidents of ``severity`` that started in ``[since, until)``, oldest first."""
        ...

    def response_report(self, since: float, until: float) -> dict[str, dict[str, Any]]:
        """Response times of the incidents started in ``[since, until)``, by severity (one aggregate query)."""
        ...

    def get_state(self, key: str) -> str | None:
        """Return a runtime state value, or ``None``."""
        ...

    def set_state(self, key: str, value: str | None) -> None:
        """Set (``None``: delete) a runtime state value."""
        ...

    def lock_budgets(self) -> None:
        """Serialise budget checks across replicas until the transaction ends."""
        ...

    def count_actions(self, since: float, **where: Any) -> int:
        """Executions logged since ``since`` matching ``where`` (rule, identity, playbook, step, …)."""
        ...

    def last_action_at(self, **where: Any) -> float | None:
        """Time of the newest logged execution matching ``where``, or ``None``."""
        ...

    def log_action(self, at: float, incident_id: str, rule: str, identity: str, playbook: str, step: str,
                   action: str, destructive: bool) -> None:
        """Record a step about to execute for real (what limits count)."""
        ...

    def reschedule(self, job_id: int, due_at: float, now: float, payload: dict[str, Any]) -> None:
        """Put a claimed row back to ``pending`` until ``due_at`` with a new payload."""
        ...

    def make_due(self, key: str, now: float) -> bool:
        """Make the pending row ``key`` due now. Returns whether there was one."""
        ...

    def next_due(self) -> float | None:
        """The earliest ``due_at`` of pending rows, or ``None``."""
        ...

    def queue_depth(self) -> dict[str, int]:
        """Pending and running rows by kind."""
        ...

    def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key`` as used until ``expires_at``; ``False`` when it is recorded and not expired yet."""
        ...

    # -- bounded reads of the page path: their cost does not grow with the incident's size --------
    def incident_head(self, incident_id: str, *, alerts: int = 0) -> Incident | None:
        """One incident with at most ``alerts`` of its alerts (the first by start; none by default), or ``None``."""
        ...

    def alert_counts(self, incident_id: str) -> dict[str, int]:
        """How many alerts the incident tracks, by status."""
        ...

    def events_of_kinds(self, incident_id: str, kinds: Sequence[str], limit: int) -> tuple[list[TimelineEvent], int]:
        """The last ``limit`` events of ``kinds`` (oldest first) and how many there are in all."""
        ...

    def jobs_of_kinds(self, incident_id: str, kinds: Sequence[str]) -> list[Job]:
        """The incident's work rows of ``kinds``, oldest first."""
        ...

    def reserve_slot(self, key: str, now: float, interval: float, burst: int = 1) -> float:
        """Reserve the next send slot of rate limit ``key`` (one per ``interval`` s after a burst of
        ``burst``); returns its start (epoch seconds, ``<= now``: send at once)."""
        ...


class Store(Protocol):
    """A durable store backend."""

    async def open(self) -> None:
        """Connect and migrate the schema (under a lock). Raises ``StoreUnavailable``."""
        ...

    async def close(self) -> None:
        """Flush and disconnect."""
        ...

    #: ``heartbeat.alertname``: a firing alert of this name sets ``HEARTBEAT_KEY`` in ingest's own
    #: commit (empty: no dead man's switch). Set before the first ``ingest``.
    heartbeat_alertname: str

    async def ingest(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Commit alerts durably (group-committed with concurrent callers). Returns rows changed.

        A firing alert named ``heartbeat_alertname`` records the heartbeat in the same commit.

        Raises ``StoreUnavailable`` when the commit fails; nothing is then acknowledged.
        """
        ...

    def process_on_ingest(self, apply: Callable[[Tx, list[AlertRecord], float], T],
                          after: Callable[[T | None], None], *,
                          factory: Callable[[], Callable[[Tx, list[AlertRecord], float], T]] | None = None,
                          init: Callable[[], None] | None = None) -> bool:
        """Apply alert state changes inside ingest's own group commit, if the backend supports it.

        ``apply(tx, changed_alerts, now)`` runs on the store's thread in the ingest transaction and
        the rows are then stored as processed; if it raises, its writes are rolled back and the alerts
        stay pending for the dispatcher (the commit of the alerts themselves never depends on it).
        ``after(result)`` runs on the event loop once the commit is durable, with ``None`` when the
        alerts were left pending. Returns ``False`` (and does nothing) when the backend keeps every
        change pending for the dispatcher instead, as PostgreSQL does for several replicas.
        ``factory`` (picklable) and ``init`` let a backend build the applier in another process
        (``factory()`` after ``init()``); calling this again replaces the applier.
        """
        ...

    async def transaction(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` in one transaction on the store's thread and return its result."""
        ...

    async def read(self, fn: Callable[[Tx], T]) -> T:
        """Run read-only ``fn(tx)`` (may run beside writers)."""
        ...

    async def ping(self) -> bool:
        """Return whether the database answers."""
        ...
