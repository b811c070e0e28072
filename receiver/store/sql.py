"""``SqlTx``: the ``Tx`` operations in portable SQL over a DB-API cursor (SQLite and PostgreSQL).

Statements are written with ``?`` placeholders and translated for psycopg (``%s``). On PostgreSQL,
claims of work rows and pending alerts use ``FOR UPDATE SKIP LOCKED`` (each replica takes rows the
others do not hold) and incident reads for update use a waiting ``FOR UPDATE``; SQLite serialises
writers itself. Stale states are rejected in SQL: an alert row only moves ``firing`` → ``resolved``,
never back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from receiver.model import AlertRecord, Incident, IncidentAlert, Job, TimelineEvent
from receiver.redaction import NO_REDACTION, Redactor
from receiver.store import audit as _audit
from receiver.store.base import JobClause, JobFilter
from receiver.store.schema import Dialect

_INCIDENT_COLS = (
    "id, identity, rule, severity, status, labels, title, playbook, rules_version, started_at, "
    "updated_at, resolved_at, acknowledged_at, acknowledged_by, epoch, mode, truncated, truncated_at, held_since"
)
_UPDATABLE = {
    "severity", "status", "labels", "title", "updated_at", "resolved_at", "acknowledged_at",
    "acknowledged_by", "epoch", "rules_version", "truncated", "truncated_at", "held_since",
}
_JOB_COLS = "id, key, kind, incident_id, payload, state, due_at, attempts"

#: Insert an alert state, or apply firing → resolved (never back). A body that left alerts out
#: (``truncated`` > 0), or the first complete one after it, re-applies the state it shows, so the
#: processor learns what the latest body of the group says (docs/escalation.md, truncated groups).
UPSERT_ALERT = (
    "INSERT INTO alerts (fingerprint, starts_at, status, starts_ts, ends_ts, labels, annotations, "
    "generator_url, received_at, updated_at, pending, truncated, group_key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (fingerprint, starts_at) DO UPDATE SET status = excluded.status, "
    "ends_ts = excluded.ends_ts, annotations = excluded.annotations, updated_at = excluded.updated_at, "
    "pending = excluded.pending, truncated = excluded.truncated, group_key = excluded.group_key, "
    "quarantined = NULL "
    "WHERE (alerts.status = 'firing' AND excluded.status = 'resolved') OR (alerts.status = excluded.status "
    "AND (excluded.truncated > 0 OR alerts.truncated > 0) AND alerts.quarantined IS NULL)"
)


#: An incident's alert: its state from ``incident_alerts``, its labels and annotations from its episode's
#: row in ``alerts`` (``{}`` should that row be missing).
_INCIDENT_ALERT_COLS = (
    "ia.fingerprint, ia.starts_at, ia.status, COALESCE(a.labels, '{}'), COALESCE(a.annotations, '{}'), "
    "ia.starts_ts, ia.ends_ts FROM incident_alerts ia LEFT JOIN alerts a "
    "ON a.fingerprint = ia.fingerprint AND a.starts_at = ia.starts_at"
)


def _dumps(value: Any) -> str:
    """Compact JSON text (orjson: an alert storm encodes labels thousands of times a second); values
    JSON cannot hold are written as their ``str``."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


_loads = orjson.loads


def alert_row(a: AlertRecord, now: float, pending: int = 1) -> tuple[Any, ...]:
    """Return the parameters of ``UPSERT_ALERT`` for one alert (``pending=0``: processed already)."""
    return (
        a.fingerprint, a.starts_at, a.status, a.starts_ts, a.ends_ts, _dumps(a.labels), _dumps(a.annotations),
        a.generator_url, now, now, pending, *(_truncation(a) if a.truncated else (0, "")),
    )


#: ``truncatedAlerts`` beyond this is stored as this (an INTEGER of PostgreSQL has 32 bits).
MAX_TRUNCATED = 2**31 - 1


def _truncation(a: AlertRecord) -> tuple[int, str]:
    """The alert's ``truncated`` count (capped) and ``group_key`` in a form every store can hold (NUL
    and lone surrogates replaced): an odd group key must not fail the commit of a whole batch."""
    key = a.group_key.replace("\x00", "\ufffd").encode("utf-8", "replace").decode()
    return min(a.truncated, MAX_TRUNCATED), key


class SqlTx:
    """The ``Tx`` protocol over one DB-API cursor inside an open transaction."""

    def __init__(self, cur: Any, dialect: Dialect) -> None:
        self._cur = cur
        self._pg = dialect == "postgresql"
        # Claims skip rows another replica holds; incidents wait for them instead: skipping a locked
        # incident would read as "no open incident" and open a second one or drop a resolve.
        self._lock = " FOR UPDATE SKIP LOCKED" if self._pg else ""
        self._row_lock = " FOR UPDATE" if self._pg else ""
        #: (alertname, incident) pairs written in this transaction, and known to be stored before it.
        self.written_names: set[tuple[str, str]] = set()
        self.known_names: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset()
        #: Set by ``sqlite.ingest_batch``: unchanged between two transactions when nothing else wrote.
        self.cache_token: int | None = None
        #: Applied to what the writers store (timeline, job results, notification payloads); set by the store.
        self.redact: Redactor = NO_REDACTION
        #: Audit records queued by this transaction; ``flush_audit`` writes them just before COMMIT.
        self.audit_queue: list[_audit.Pending] = []
        #: Who this transaction acts for (a person, ``admin-token``); ``None``: each event's ``by`` (else
        #: its ``actor``), else runbookd.
        self.actor: str | None = None

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._pg:
            sql = sql.replace("?", "%s")
        self._cur.execute(sql, params)
        return self._cur

    # -- alerts -------------------------------------------------------------------------------
    def upsert_alerts(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Insert new alerts and apply firing→resolved; ignore stale states. Returns rows changed."""
        changed = 0
        for a in alerts:
            changed += self._x(UPSERT_ALERT, alert_row(a, now)).rowcount
        return changed

    def claim_pending_alerts(self, limit: int) -> list[AlertRecord]:
        """Return up to ``limit`` alerts whose state change is not processed yet, oldest first."""
        rows = self._x(
            "SELECT fingerprint, starts_at, status, labels, annotations, starts_ts, ends_ts, generator_url, "
            f"truncated, group_key FROM alerts WHERE pending = 1 ORDER BY updated_at LIMIT ?{self._lock}",
            (limit,),
        ).fetchall()
        return [
            AlertRecord(r[0], r[1], r[2], _loads(r[3]), _loads(r[4]), r[5], r[6], r[7], r[8], r[9]) for r in rows
        ]

    def quarantine_alert(self, fingerprint: str, starts_at: str, status: str, reason: str) -> bool:
        """Set the pending state ``status`` of alert ``(fingerprint, starts_at)`` aside for good: no
        longer pending, ``quarantined`` holds ``reason``. Returns whether that state was still pending
        (a newer state that arrived meanwhile is left pending, to be tried on its own)."""
        cur = self._x(
            "UPDATE alerts SET pending = 0, quarantined = ? WHERE fingerprint = ? AND starts_at = ? "
            "AND status = ? AND pending = 1",
            (reason, fingerprint, starts_at, status),
        )
        return bool(cur.rowcount)

    def quarantined_alerts(self, limit: int = 100) -> list[tuple[str, str, str, str]]:
        """Quarantined alert states, newest first: ``(fingerprint, starts_at, status, reason)``."""
        rows = self._x(
            "SELECT fingerprint, starts_at, status, quarantined FROM alerts WHERE quarantined IS NOT NULL "
            "ORDER BY updated_at DESC LIMIT ?", (limit,),
        ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def oldest_pending_at(self) -> float | None:
        """When (epoch seconds) the oldest alert state still waiting for the processor was stored, or
        ``None`` when none waits (an index lookup: ``alerts_pending_updated``)."""
        row = self._x("SELECT MIN(updated_at) FROM alerts WHERE pending = 1").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def mark_alerts_processed(self, keys: Sequence[tuple[str, str]], pending: int = 0) -> None:
        """Clear (or, with ``pending=1``, set again) the pending flag of ``(fingerprint, starts_at)`` keys."""
        sql = "UPDATE alerts SET pending = ? WHERE fingerprint = ? AND starts_at = ?"
        if keys:
            self._cur.executemany(sql.replace("?", "%s") if self._pg else sql, [(pending, *k) for k in keys])

    def any_pending_alerts(self) -> bool:
        """Whether any alert state change waits for the dispatcher (an index lookup)."""
        return self._x("SELECT 1 FROM alerts WHERE pending = 1 LIMIT 1").fetchone() is not None

    # -- incidents ----------------------------------------------------------------------------
    def _incident(self, row: Sequence[Any], with_alerts: bool = True) -> Incident:
        alerts: tuple[IncidentAlert, ...] = ()
        if with_alerts:
            rows = self._x(
                f"SELECT {_INCIDENT_ALERT_COLS} WHERE ia.incident_id = ? ORDER BY ia.starts_ts, ia.fingerprint",
                (row[0],),
            ).fetchall()
            alerts = tuple(
                IncidentAlert(r[0], r[1], r[2], _loads(r[3]), _loads(r[4]), r[5], r[6]) for r in rows
            )
        return Incident(
            id=row[0], identity=row[1], rule=row[2], severity=row[3], status=row[4],
            labels=_loads(row[5]), title=row[6], playbook=row[7], rules_version=row[8],
            started_at=row[9], updated_at=row[10], resolved_at=row[11], acknowledged_at=row[12],
            acknowledged_by=row[13], epoch=row[14], mode=row[15], alerts=alerts, truncated=row[16],
            truncated_at=row[17], held_since=row[18],
        )

    def find_incident(self, identity: str, *, open_only: bool, with_alerts: bool = True) -> Incident | None:
        """Return the open incident of ``identity``, or (``open_only=False``) its newest one.

        ``with_alerts=False`` leaves ``alerts`` empty: the hot path of alert processing needs only
        the incident's own row (``incident_alert`` reads one alert by key).
        """
        cond = " AND resolved_at IS NULL" if open_only else ""
        row = self._x(
            f"SELECT {_INCIDENT_COLS} FROM incidents WHERE identity = ?{cond} "
            f"ORDER BY started_at DESC LIMIT 1{self._row_lock}",
            (identity,),
        ).fetchone()
        return self._incident(row, with_alerts) if row else None

    def incident_alert(self, incident_id: str, fingerprint: str) -> IncidentAlert | None:
        """The alert with ``fingerprint`` as the incident tracks it, or ``None``."""
        r = self._x(
            f"SELECT {_INCIDENT_ALERT_COLS} WHERE ia.incident_id = ? AND ia.fingerprint = ?",
            (incident_id, fingerprint),
        ).fetchone()
        return IncidentAlert(r[0], r[1], r[2], _loads(r[3]), _loads(r[4]), r[5], r[6]) if r else None

    def other_alert_firing(self, incident_id: str, fingerprint: str) -> bool:
        """Whether an alert of the incident other than ``fingerprint`` still fires."""
        row = self._x(
            "SELECT 1 FROM incident_alerts WHERE incident_id = ? AND fingerprint <> ? AND status = 'firing' LIMIT 1",
            (incident_id, fingerprint),
        ).fetchone()
        return row is not None

    def get_incident(self, incident_id: str, *, for_update: bool = False) -> Incident | None:
        """Return one incident with its alerts, or ``None``."""
        lock = self._row_lock if for_update else ""
        row = self._x(f"SELECT {_INCIDENT_COLS} FROM incidents WHERE id = ?{lock}", (incident_id,)).fetchone()
        return self._incident(row) if row else None

    def insert_incident(self, i: Incident) -> None:
        """Insert a new incident (alerts are added with ``upsert_incident_alert``)."""
        self._x(
            f"INSERT INTO incidents ({_INCIDENT_COLS}) VALUES ({', '.join('?' * 19)})",
            (i.id, i.identity, i.rule, i.severity, i.status, _dumps(i.labels), i.title, i.playbook,
             i.rules_version, i.started_at, i.updated_at, i.resolved_at, i.acknowledged_at,
             i.acknowledged_by, i.epoch, i.mode, i.truncated, i.truncated_at, i.held_since),
        )

    def update_incident(self, incident_id: str, **fields: Any) -> None:
        """Set columns of an incident; raises ``ValueError`` for a column that may not change."""
        bad = set(fields) - _UPDATABLE
        if bad:
            raise ValueError(f"cannot update incident columns {sorted(bad)}")
        if "labels" in fields:
            fields["labels"] = _dumps(fields["labels"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._x(f"UPDATE incidents SET {sets} WHERE id = ?", (*fields.values(), incident_id))

    def upsert_incident_alert(self, incident_id: str, a: IncidentAlert) -> None:
        """Track ``a`` on the incident by fingerprint; a newer episode replaces an older one.

        Only the episode's key and state are written: its labels and annotations are read back from
        its row in ``alerts`` (same fingerprint and ``starts_at``, stored by ingest before), not
        stored twice (schema version 7).
        """
        self.track_alert(incident_id, a)

    def track_alert(self, incident_id: str, a: IncidentAlert) -> str | None:
        """``upsert_incident_alert`` that says what changed: ``"joined"`` (new to the incident),
        ``"refired"`` (a newer episode of a tracked fingerprint), or ``None`` (the same or an older
        episode: nothing changed)."""
        row = self._x(
            "INSERT INTO incident_alerts (incident_id, fingerprint, starts_at, status, starts_ts, ends_ts, "
            "alertname, prev_starts_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL) "
            "ON CONFLICT (incident_id, fingerprint) DO UPDATE SET prev_starts_at = incident_alerts.starts_at, "
            "starts_at = excluded.starts_at, status = excluded.status, starts_ts = excluded.starts_ts, "
            "ends_ts = excluded.ends_ts "
            "WHERE incident_alerts.starts_ts < excluded.starts_ts OR (incident_alerts.starts_at = "
            "excluded.starts_at AND incident_alerts.status = 'firing') RETURNING prev_starts_at",
            (incident_id, a.fingerprint, a.starts_at, a.status, a.starts_ts, a.ends_ts,
             a.labels.get("alertname", "")),
        ).fetchone()
        self._note_alertname(incident_id, a)
        if row is None:
            return None
        if row[0] is None:
            return "joined"
        return "refired" if row[0] != a.starts_at else None

    def _note_alertname(self, incident_id: str, a: IncidentAlert) -> None:
        name = (a.labels.get("alertname", ""), incident_id)
        if name not in self.written_names and name not in self.known_names:  # written once per incident
            self.written_names.add(name)
            self._x("INSERT INTO incident_alertnames (alertname, incident_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    name)

    def list_incidents(self, *, status: str | None, alertname: str | None, limit: int) -> list[Incident]:
        """Incidents newest first, optionally filtered by status or by an alert's alertname."""
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if alertname:
            where.append("id IN (SELECT incident_id FROM incident_alertnames WHERE alertname = ?)")
            params.append(alertname)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        rows = self._x(
            f"SELECT {_INCIDENT_COLS} FROM incidents{clause} ORDER BY started_at DESC, id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [self._incident(r) for r in rows]

    def held_incidents(self, before: float) -> list[Incident]:
        """Open incidents held open by a truncated body (``held_since`` set) whose last truncated
        body was applied before ``before`` (epoch seconds), oldest first."""
        rows = self._x(
            f"SELECT {_INCIDENT_COLS} FROM incidents WHERE held_since IS NOT NULL AND truncated_at < ? "
            f"AND resolved_at IS NULL ORDER BY truncated_at{self._lock}", (before,),
        ).fetchall()
        return [self._incident(r, with_alerts=False) for r in rows]

    def open_counts(self) -> dict[str, int]:
        """Number of unresolved incidents by severity."""
        rows = self._x(
            "SELECT severity, COUNT(*) FROM incidents WHERE resolved_at IS NULL GROUP BY severity"
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    # -- timeline -----------------------------------------------------------------------------
    def add_event(self, incident_id: str, e: TimelineEvent) -> None:
        """Append an event to the incident's timeline."""
        data = _dumps(self.redact(e.data))
        message = self.redact(e.message)
        self._x(
            "INSERT INTO timeline (incident_id, at, kind, message, data) VALUES (?, ?, ?, ?, ?)",
            (incident_id, e.at, e.kind, message, data),
        )
        by = (e.data.get("by") or e.data.get("actor")) if isinstance(e.data, dict) else None
        self.audit_queue.append(_audit.Pending(e.at, self.actor or (by if isinstance(by, str) and by else
                                                                    _audit.SYSTEM), e.kind, incident_id,
                                               f'{{"data":{data},"message":{_dumps(message)}}}'))

    def audit(self, at: float, action: str, subject: str, data: dict[str, Any], actor: str | None = None) -> None:
        """Queue one audit record that is not a timeline event (pause, reload, token, refusal …).

        ``actor`` defaults to the transaction's ``actor``, then ``runbookd``; ``at`` is epoch seconds.
        """
        self.audit_queue.append(_audit.Pending(at, actor or self.actor or _audit.SYSTEM, action, subject,
                                               _audit.data_text(self.redact(data))))

    def flush_audit(self) -> None:
        """Append the queued audit records to the chain; the store calls it just before COMMIT."""
        _audit.append(self._x, self._cur, self.audit_queue, self._pg)

    def timeline(self, incident_id: str) -> list[TimelineEvent]:
        """The incident's timeline, oldest first (insertion order)."""
        rows = self._x(
            "SELECT at, kind, message, data FROM timeline WHERE incident_id = ? ORDER BY id", (incident_id,)
        ).fetchall()
        return [TimelineEvent(r[0], r[1], r[2], _loads(r[3])) for r in rows]

    # -- console reads (pages of bounded size: receiver/console) -------------------------------
    def incident_page(self, *, status: str | None, severity: str | None, alertname: str | None, limit: int,
                      offset: int = 0) -> list[tuple[Incident, int]]:
        """One page of incidents newest first, without their alerts, each with its alert count."""
        where, params = [], []
        for col, value in (("status", status), ("severity", severity)):
            if value:
                where.append(f"{col} = ?")
                params.append(value)
        if alertname:
            where.append("id IN (SELECT incident_id FROM incident_alertnames WHERE alertname = ?)")
            params.append(alertname)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        rows = self._x(
            f"SELECT {_INCIDENT_COLS}, (SELECT COUNT(*) FROM incident_alerts c WHERE c.incident_id = incidents.id) "
            f"FROM incidents{clause} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        ).fetchall()
        return [(self._incident(r, with_alerts=False), int(r[19])) for r in rows]

    def alerts_page(self, incident_id: str, limit: int, after: str = "") -> list[tuple[IncidentAlert, str]]:
        """One page of an incident's alerts by fingerprint, those after ``after`` (keyset: the cost does
        not grow with the page's depth), each with its ``generatorURL``."""
        cols, joined = _INCIDENT_ALERT_COLS.split(" FROM ", 1)
        rows = self._x(
            f"SELECT {cols}, COALESCE(a.generator_url, '') FROM {joined} "
            "WHERE ia.incident_id = ? AND ia.fingerprint > ? ORDER BY ia.fingerprint LIMIT ?",
            (incident_id, after, limit),
        ).fetchall()
        return [(IncidentAlert(r[0], r[1], r[2], _loads(r[3]), _loads(r[4]), r[5], r[6]), r[7]) for r in rows]

    def alert_count(self, incident_id: str) -> int:
        """How many alerts the incident tracks."""
        return int(self._x("SELECT COUNT(*) FROM incident_alerts WHERE incident_id = ?", (incident_id,)).fetchone()[0])

    def timeline_page(self, incident_id: str, limit: int, offset: int = 0, *,
                      kinds: Sequence[str] = ()) -> list[TimelineEvent]:
        """One page of the incident's timeline, newest first; with ``kinds`` (prefixes such as
        ``step.``, never ``alert.``) only events whose kind starts with one of them, read through the
        partial index ``timeline_actions`` that leaves out the ``alert.*`` events (schema version 11)."""
        cond = ""
        if kinds:
            pct = "%%" if self._pg else "%"  # a literal %, as psycopg reads it; the index predicate matches the text
            cond = f" AND kind NOT LIKE 'alert.{pct}' AND (" + " OR ".join("kind LIKE ?" for _ in kinds) + ")"
        rows = self._x(
            f"SELECT at, kind, message, data FROM timeline WHERE incident_id = ?{cond} ORDER BY id DESC "
            "LIMIT ? OFFSET ?", (incident_id, *(k + "%" for k in kinds), limit, offset),
        ).fetchall()
        return [TimelineEvent(r[0], r[1], r[2], _loads(r[3])) for r in rows]

    def playbook_progress(self, incident_ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
        """Per incident: how many playbook steps finished, and ``done``/``stopped`` once the playbook ended."""
        if not incident_ids:
            return {}
        marks, pct = ", ".join("?" * len(incident_ids)), "%%" if self._pg else "%"
        rows = self._x(
            "SELECT incident_id, SUM(CASE WHEN kind IN ('step.ok', 'step.dry_run', 'step.skipped', 'step.failed', "
            "'step.unknown') THEN 1 ELSE 0 END), MAX(CASE WHEN kind = 'playbook.done' THEN 2 WHEN kind = "
            f"'playbook.stopped' THEN 1 ELSE 0 END) FROM timeline WHERE incident_id IN ({marks}) AND "
            f"(kind LIKE 'step.{pct}' OR kind LIKE 'playbook.{pct}') GROUP BY incident_id", tuple(incident_ids),
        ).fetchall()
        return {r[0]: (int(r[1] or 0), {2: "done", 1: "stopped"}.get(int(r[2] or 0))) for r in rows}

    def audit_page(self, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """One page of the audit log, newest first: ``seq``, ``at`` (ISO UTC), ``actor``, ``action``,
        ``subject``, ``data`` (the stored JSON text)."""
        rows = self._x("SELECT seq, at, actor, action, subject, data FROM audit_log ORDER BY seq DESC LIMIT ? OFFSET ?",
                       (limit, offset)).fetchall()
        return [{"seq": int(r[0]), "at": r[1], "actor": r[2], "action": r[3], "subject": r[4], "data": r[5]}
                for r in rows]

    def latest_change(self, incident_id: str | None = None) -> int:
        """A number that grows whenever any incident (or ``incident_id``) changes: the newest timeline
        event's id, 0 if none (one index lookup)."""
        row = (self._x("SELECT MAX(id) FROM timeline WHERE incident_id = ?", (incident_id,)) if incident_id
               else self._x("SELECT MAX(id) FROM timeline")).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- work rows ----------------------------------------------------------------------------
    def enqueue(self, key: str, kind: str, incident_id: str, payload: dict[str, Any],
                due_at: float, now: float) -> bool:
        """Add a pending work row unless ``key`` exists. Returns whether it was added.

        The payload of a notification (every kind but ``step``, whose steps are the rule file's own
        templates) is redacted.
        """
        if kind != "step":
            payload = self.redact(payload)
        cur = self._x(
            "INSERT INTO jobs (key, kind, incident_id, payload, state, due_at, attempts, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, 'pending', ?, 0, ?, ?) ON CONFLICT (key) DO NOTHING",
            (key, kind, incident_id, _dumps(payload), due_at, now, now),
        )
        return bool(cur.rowcount)

    def has_due(self, now: float) -> bool:
        """Whether any row is due (pending by ``now``, or running with an expired lease); takes no lock."""
        row = self._x(
            "SELECT 1 FROM jobs WHERE (state = 'pending' AND due_at <= ?) OR (state = 'running' AND lease_until < ?) "
            "LIMIT 1",
            (now, now),
        ).fetchone()
        return row is not None

    def job_filter(self, where: JobFilter | None) -> tuple[str, list[Any]]:
        """``where`` as SQL (`` AND (…)`` to append to a WHERE clause) and its parameters."""
        if where is None or (not where.include and not where.exclude):
            return "", []
        recv = "(payload::jsonb ->> 'receiver')" if self._pg else "json_extract(payload, '$.receiver')"
        params: list[Any] = []

        def clause(c: JobClause) -> str:
            kinds, receivers = c
            if not kinds or (receivers is not None and not receivers):
                return "1 = 0"
            params.extend(kinds)
            sql = f"kind IN ({', '.join('?' for _ in kinds)})"
            if receivers is not None:
                params.extend(receivers)
                sql += f" AND COALESCE({recv}, '') IN ({', '.join('?' for _ in receivers)})"
            return f"({sql})"

        parts = []
        if where.include:
            parts.append("(" + " OR ".join(clause(c) for c in where.include) + ")")
        if where.exclude:
            parts.append("NOT (" + " OR ".join(clause(c) for c in where.exclude) + ")")
        return " AND " + " AND ".join(parts), params

    def claim_jobs(self, now: float, limit: int, claimer: str, lease: float,
                   where: JobFilter | None = None) -> list[Job]:
        """Claim up to ``limit`` due rows: pending ones due by ``now``, or running ones whose lease ran out;
        only those matching ``where`` when given (a bulkhead's claim)."""
        cond, params = self.job_filter(where)
        rows = self._x(
            f"SELECT {_JOB_COLS} FROM jobs WHERE ((state = 'pending' AND due_at <= ?) "
            f"OR (state = 'running' AND lease_until < ?)){cond} ORDER BY due_at, id LIMIT ?{self._lock}",
            (now, now, *params, limit),
        ).fetchall()
        jobs = []
        for r in rows:
            self._x(
                "UPDATE jobs SET state = 'running', claimed_by = ?, lease_until = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE id = ?",
                (claimer, now + lease, now, r[0]),
            )
            jobs.append(Job(r[0], r[1], r[2], r[3], _loads(r[4]), "running", r[6], r[7] + 1,
                            takeover=r[5] == "running"))
        return jobs

    def finish_job(self, job_id: int, state: str, now: float, result: dict[str, Any] | None = None) -> None:
        """Mark a claimed row ``done``, ``failed``, ``cancelled`` or ``unknown``."""
        self._x(
            "UPDATE jobs SET state = ?, lease_until = NULL, updated_at = ?, result = ? WHERE id = ?",
            (state, now, _dumps(self.redact(result or {})), job_id),
        )

    def retry_job(self, job_id: int, due_at: float, now: float, result: dict[str, Any] | None = None,
                  payload: dict[str, Any] | None = None) -> None:
        """Put a claimed row back to ``pending`` until ``due_at`` (with a new ``payload`` when given)."""
        self._x(
            "UPDATE jobs SET state = 'pending', due_at = ?, lease_until = NULL, claimed_by = NULL, "
            "updated_at = ?, result = ? WHERE id = ?",
            (due_at, now, _dumps(self.redact(result or {})), job_id),
        )
        if payload is not None:
            self._x("UPDATE jobs SET payload = ? WHERE id = ?", (_dumps(self.redact(payload)), job_id))

    def cancel_jobs(self, incident_id: str, kinds: Sequence[str], now: float) -> int:
        """Cancel the incident's pending rows of ``kinds``. Returns how many."""
        marks = ", ".join("?" for _ in kinds)
        cur = self._x(
            f"UPDATE jobs SET state = 'cancelled', updated_at = ? WHERE incident_id = ? "
            f"AND state = 'pending' AND kind IN ({marks})",
            (now, incident_id, *kinds),
        )
        return int(cur.rowcount)

    def jobs_of(self, incident_id: str) -> list[Job]:
        """Every work row of an incident, oldest first."""
        rows = self._x(f"SELECT {_JOB_COLS} FROM jobs WHERE incident_id = ? ORDER BY id", (incident_id,)).fetchall()
        return [Job(r[0], r[1], r[2], r[3], _loads(r[4]), r[5], r[6], r[7]) for r in rows]

    def next_due(self) -> float | None:
        """The earliest ``due_at`` of pending rows (for the dispatcher's sleep), or ``None``."""
        row = self._x("SELECT MIN(due_at) FROM jobs WHERE state = 'pending'").fetchone()
        return row[0] if row and row[0] is not None else None

    def queue_depth(self) -> dict[str, int]:
        """Pending and running rows by kind."""
        rows = self._x(
            "SELECT kind, COUNT(*) FROM jobs WHERE state IN ('pending', 'running') GROUP BY kind"
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def renew_leases(self, job_ids: Sequence[int], claimer: str, until: float) -> None:
        """Extend the lease of rows this claimer still runs (a heartbeat for long steps)."""
        for jid in job_ids:
            self._x(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND claimed_by = ?",
                (until, jid, claimer),
            )

    def incidents_started_between(self, severity: str, since: float, until: float) -> list[Incident]:
        """Incidents of ``severity`` that started in ``[since, until)``, oldest first (for digests)."""
        rows = self._x(
            f"SELECT {_INCIDENT_COLS} FROM incidents WHERE severity = ? AND started_at >= ? AND started_at < ? "
            "ORDER BY started_at, id",
            (severity, since, until),
        ).fetchall()
        return [self._incident(r) for r in rows]

    def response_report(self, since: float, until: float) -> dict[str, dict[str, Any]]:
        """Response times of the incidents started in ``[since, until)``, aggregated in SQL by severity.

        ``{severity: {"incidents", "acknowledged", "mtta_seconds", "resolved", "mttr_seconds",
        "breaches"}}``; the means run from ``started_at`` (seconds), ``None`` when nothing to average;
        ``breaches`` counts ``response.breached`` timeline events. Severities without incidents are absent.
        """
        rows = self._x(
            "SELECT severity, COUNT(*), COUNT(acknowledged_at), AVG(acknowledged_at - started_at), "
            "COUNT(resolved_at), AVG(resolved_at - started_at) FROM incidents "
            "WHERE started_at >= ? AND started_at < ? GROUP BY severity",
            (since, until),
        ).fetchall()
        out = {r[0]: {"incidents": int(r[1]), "acknowledged": int(r[2]),
                      "mtta_seconds": float(r[3]) if r[3] is not None else None,
                      "resolved": int(r[4]), "mttr_seconds": float(r[5]) if r[5] is not None else None,
                      "breaches": 0} for r in rows}
        for sev, n in self._x(
            "SELECT i.severity, COUNT(*) FROM incidents i JOIN timeline t ON t.incident_id = i.id "
            "WHERE i.started_at >= ? AND i.started_at < ? AND t.kind = 'response.breached' GROUP BY i.severity",
            (since, until),
        ).fetchall():
            out[sev]["breaches"] = int(n)
        return out

    # -- action log (rate limits, budgets, cooldowns) -----------------------------------------
    def lock_budgets(self) -> None:
        """Serialise budget checks across replicas for the rest of the transaction (SQLite: no-op)."""
        if self._pg:
            self._x("SELECT pg_advisory_xact_lock(7340031)")

    def count_actions(self, since: float, **where: Any) -> int:
        """Executions logged since ``since``, filtered by ``rule``, ``identity``, ``playbook``, ``step``,
        ``action`` or ``destructive`` (keyword = value)."""
        cols = {"rule", "identity", "playbook", "step", "action", "destructive", "incident_id"}
        bad = set(where) - cols
        if bad:
            raise ValueError(f"unknown action_log filters {sorted(bad)}")
        cond = "".join(f" AND {k} = ?" for k in where)
        vals = [int(v) if isinstance(v, bool) else v for v in where.values()]
        row = self._x(f"SELECT COUNT(*) FROM action_log WHERE at >= ?{cond}", (since, *vals)).fetchone()
        return int(row[0])

    def last_action_at(self, **where: Any) -> float | None:
        """The time of the newest logged execution matching ``where`` (as ``count_actions``), or ``None``."""
        cond = " AND ".join(f"{k} = ?" for k in where) or "1 = 1"
        row = self._x(f"SELECT MAX(at) FROM action_log WHERE {cond}", tuple(where.values())).fetchone()
        return row[0] if row and row[0] is not None else None

    def log_action(self, at: float, incident_id: str, rule: str, identity: str, playbook: str, step: str,
                   action: str, destructive: bool) -> None:
        """Record that a step is about to execute for real (what rate limits and budgets count)."""
        self._x(
            "INSERT INTO action_log (at, incident_id, rule, identity, playbook, step, action, destructive) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, incident_id, rule, identity, playbook, step, action, int(destructive)),
        )

    def reschedule(self, job_id: int, due_at: float, now: float, payload: dict[str, Any]) -> None:
        """Put a claimed row back to ``pending`` until ``due_at`` with a new ``payload`` (a waiting step)."""
        self._x(
            "UPDATE jobs SET state = 'pending', due_at = ?, payload = ?, lease_until = NULL, claimed_by = NULL, "
            "attempts = attempts - 1, updated_at = ? WHERE id = ?",
            (due_at, _dumps(payload), now, job_id),
        )

    def make_due(self, key: str, now: float) -> bool:
        """Make a pending row due now (an approval arrived). Returns whether a pending row had that key."""
        cur = self._x("UPDATE jobs SET due_at = ?, updated_at = ? WHERE key = ? AND state = 'pending'", (now, now, key))
        return bool(cur.rowcount)

    # -- state --------------------------------------------------------------------------------
    def get_state(self, key: str) -> str | None:
        """Return the value of a runtime state key (heartbeat, automation pause …), or ``None``."""
        row = self._x("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str | None) -> None:
        """Set (or, with ``None``, delete) a runtime state key."""
        if value is None:
            self._x("DELETE FROM state WHERE key = ?", (key,))
            return
        self._x(
            "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- pages --------------------------------------------------------------------------------
    def set_page_ref(self, incident_id: str, receiver: str, ref: str) -> None:
        """Remember the provider reference of the page sent to ``receiver``."""
        self._x(
            "INSERT INTO pages (incident_id, receiver, ref) VALUES (?, ?, ?) "
            "ON CONFLICT (incident_id, receiver) DO UPDATE SET ref = excluded.ref",
            (incident_id, receiver, ref),
        )

    def page_ref(self, incident_id: str, receiver: str) -> str | None:
        """Return the provider reference of the page sent to ``receiver``, if any."""
        row = self._x(
            "SELECT ref FROM pages WHERE incident_id = ? AND receiver = ?", (incident_id, receiver)
        ).fetchone()
        return row[0] if row else None

    # -- replay guard -------------------------------------------------------------------------
    def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key`` (a signed request's signature or event id) as used until ``expires_at`` (epoch
        seconds); ``False`` when it was recorded before and has not expired.

        An expired key counts as new (its row is reused); up to 100 expired rows are dropped on the way,
        skipping rows another replica holds (PostgreSQL) so two guards never wait for each other.
        """
        self._x("DELETE FROM seen_requests WHERE key IN (SELECT key FROM seen_requests WHERE expires_at < ? "
                f"LIMIT 100{self._lock})", (now,))
        cur = self._x("INSERT INTO seen_requests (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                      "SET expires_at = excluded.expires_at WHERE seen_requests.expires_at < ?",
                      (key, expires_at, now))
        return bool(cur.rowcount)

    # -- bounded reads of the page path (indexes of schema version 11) ---------------------------------------
    def incident_head(self, incident_id: str, *, alerts: int = 0) -> Incident | None:
        """One incident with at most ``alerts`` of its alerts (the first by ``starts_ts``, then
        fingerprint: the order of ``get_incident``; none by default), or ``None``. Reads a bounded number
        of rows whatever the incident's size (index ``incident_alerts_start``); ``alert_counts`` counts
        the rest.
        """
        row = self._x(f"SELECT {_INCIDENT_COLS} FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            return None
        if alerts <= 0:
            return self._incident(row, with_alerts=False)
        rows = self._x(
            f"SELECT {_INCIDENT_ALERT_COLS} WHERE ia.incident_id = ? ORDER BY ia.starts_ts, ia.fingerprint LIMIT ?",
            (incident_id, max(0, alerts)),
        ).fetchall()
        sample = tuple(IncidentAlert(r[0], r[1], r[2], _loads(r[3]), _loads(r[4]), r[5], r[6]) for r in rows)
        return replace(self._incident(row, with_alerts=False), alerts=sample)

    def alert_counts(self, incident_id: str) -> dict[str, int]:
        """How many alerts the incident tracks, by status (``{"firing": 3, "resolved": 1}``)."""
        rows = self._x("SELECT status, COUNT(*) FROM incident_alerts WHERE incident_id = ? GROUP BY status",
                       (incident_id,)).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def events_of_kinds(self, incident_id: str, kinds: Sequence[str], limit: int) -> tuple[list[TimelineEvent], int]:
        """The last ``limit`` timeline events of the incident whose kind is one of ``kinds``, oldest
        first, and how many such events there are in all (index ``timeline_incident_kind``)."""
        if not kinds:
            return [], 0
        marks = ", ".join("?" for _ in kinds)
        # Without statistics SQLite prefers walking (incident_id, id) backwards (no sort) through every
        # event of the incident; the kind index reads only the matching ones.
        hint = "" if self._pg else " INDEXED BY timeline_incident_kind"
        rows = self._x(
            f"SELECT at, kind, message, data FROM timeline{hint} WHERE incident_id = ? AND kind IN ({marks}) "
            "ORDER BY id DESC LIMIT ?", (incident_id, *kinds, max(0, limit)),
        ).fetchall()
        events = [TimelineEvent(r[0], r[1], r[2], _loads(r[3])) for r in reversed(rows)]
        if len(events) < limit:
            return events, len(events)
        total = self._x(f"SELECT COUNT(*) FROM timeline WHERE incident_id = ? AND kind IN ({marks})",
                        (incident_id, *kinds)).fetchone()
        return events, int(total[0])

    def jobs_of_kinds(self, incident_id: str, kinds: Sequence[str]) -> list[Job]:
        """The incident's work rows of the given kinds, oldest first (index ``jobs_incident_kind``)."""
        if not kinds:
            return []
        marks = ", ".join("?" for _ in kinds)
        rows = self._x(f"SELECT {_JOB_COLS} FROM jobs WHERE incident_id = ? AND kind IN ({marks}) ORDER BY id",
                       (incident_id, *kinds)).fetchall()
        return [Job(r[0], r[1], r[2], r[3], _loads(r[4]), r[5], r[6], r[7]) for r in rows]

    def reserve_slot(self, key: str, now: float, interval: float, burst: int = 1) -> float:
        """Reserve the next free send slot of rate limit ``key`` and return when it starts (epoch
        seconds; at or before ``now`` when the message may go at once).

        The limit allows one send per ``interval`` seconds after a burst of ``burst`` sends (the
        generic cell rate algorithm: the ``state`` row ``key`` holds the theoretical arrival time).
        One statement (an upsert), so two replicas reserving at once get two different slots.
        """
        top = "GREATEST" if self._pg else "MAX"
        real = "DOUBLE PRECISION" if self._pg else "REAL"
        floor = now - max(0, burst - 1) * interval
        row = self._x(
            "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
            f"CAST({top}(CAST(state.value AS {real}), ?) + ? AS TEXT) RETURNING value",
            (key, repr(floor + interval), floor, interval),
        ).fetchone()
        return float(row[0]) - interval
