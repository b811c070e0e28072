"""Schema migrations, one ordered list per dialect; ``schema_version`` holds the number applied."""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]


def _v1(d: Dialect) -> list[str]:
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if d == "sqlite" else "BIGSERIAL PRIMARY KEY"
    real = "REAL" if d == "sqlite" else "DOUBLE PRECISION"
    return [
        f"""CREATE TABLE alerts (
            fingerprint TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            status TEXT NOT NULL,
            starts_ts {real} NOT NULL,
            ends_ts {real},
            labels TEXT NOT NULL,
            annotations TEXT NOT NULL,
            generator_url TEXT NOT NULL,
            received_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            pending INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (fingerprint, starts_at))""",
        "CREATE INDEX alerts_pending ON alerts (pending) WHERE pending = 1",
        f"""CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            identity TEXT NOT NULL,
            rule TEXT NOT NULL,
            severity TEXT NOT NULL,
            status TEXT NOT NULL,
            labels TEXT NOT NULL,
            title TEXT NOT NULL,
            playbook TEXT,
            rules_version TEXT NOT NULL,
            started_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            resolved_at {real},
            acknowledged_at {real},
            acknowledged_by TEXT,
            epoch INTEGER NOT NULL DEFAULT 0)""",
        "CREATE UNIQUE INDEX incidents_open_identity ON incidents (identity) WHERE resolved_at IS NULL",
        "CREATE INDEX incidents_identity ON incidents (identity, started_at)",
        "CREATE INDEX incidents_started ON incidents (started_at)",
        f"""CREATE TABLE incident_alerts (
            incident_id TEXT NOT NULL REFERENCES incidents(id),
            fingerprint TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            status TEXT NOT NULL,
            starts_ts {real} NOT NULL,
            ends_ts {real},
            labels TEXT NOT NULL,
            annotations TEXT NOT NULL,
            alertname TEXT NOT NULL,
            PRIMARY KEY (incident_id, fingerprint))""",
        "CREATE INDEX incident_alerts_alertname ON incident_alerts (alertname)",
        f"""CREATE TABLE timeline (
            id {serial},
            incident_id TEXT NOT NULL,
            at {real} NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            data TEXT NOT NULL)""",
        "CREATE INDEX timeline_incident ON timeline (incident_id, id)",
        f"""CREATE TABLE jobs (
            id {serial},
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            incident_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL,
            due_at {real} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_by TEXT,
            lease_until {real},
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            result TEXT)""",
        "CREATE INDEX jobs_due ON jobs (state, due_at)",
        "CREATE INDEX jobs_incident ON jobs (incident_id, id)",
        """CREATE TABLE pages (
            incident_id TEXT NOT NULL,
            receiver TEXT NOT NULL,
            ref TEXT NOT NULL,
            PRIMARY KEY (incident_id, receiver))""",
    ]


def _v2(d: Dialect) -> list[str]:
    return [
        "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE INDEX incidents_severity_started ON incidents (severity, started_at)",
    ]


def _v3(d: Dialect) -> list[str]:
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if d == "sqlite" else "BIGSERIAL PRIMARY KEY"
    real = "REAL" if d == "sqlite" else "DOUBLE PRECISION"
    return [
        f"""CREATE TABLE action_log (
            id {serial},
            at {real} NOT NULL,
            incident_id TEXT NOT NULL,
            rule TEXT NOT NULL,
            identity TEXT NOT NULL,
            playbook TEXT NOT NULL,
            step TEXT NOT NULL,
            action TEXT NOT NULL,
            destructive INTEGER NOT NULL)""",
        "CREATE INDEX action_log_at ON action_log (at)",
    ]


def _v4(d: Dialect) -> list[str]:
    return ["ALTER TABLE incidents ADD COLUMN mode TEXT NOT NULL DEFAULT 'active'"]


def _v5(d: Dialect) -> list[str]:
    without_rowid = " WITHOUT ROWID" if d == "sqlite" else ""
    return [
        # The claim reads pending alerts oldest first: an index on ``pending`` alone made it sort every
        # pending row on each claim, quadratic in a backlog (the dispatcher fell behind ingest for good).
        "DROP INDEX alerts_pending",
        "CREATE INDEX alerts_pending_updated ON alerts (updated_at) WHERE pending = 1",
        # ``?alertname=`` reads which incidents hold an alert name. An index over every incident alert
        # took a random page write per alert; this table takes one per new (name, incident) pair.
        f"""CREATE TABLE incident_alertnames (
            alertname TEXT NOT NULL,
            incident_id TEXT NOT NULL,
            PRIMARY KEY (alertname, incident_id)){without_rowid}""",
        "INSERT INTO incident_alertnames (alertname, incident_id) SELECT DISTINCT alertname, incident_id "
        "FROM incident_alerts",
        "DROP INDEX incident_alerts_alertname",
    ]


def _v6(d: Dialect) -> list[str]:
    # The starts_at an upsert replaced, returned by ``track_alert`` (one statement instead of a read
    # and a write per alert joining an incident).
    return ["ALTER TABLE incident_alerts ADD COLUMN prev_starts_at TEXT"]


def _v7(d: Dialect) -> list[str]:
    # An incident's alert repeated the labels and annotations its row in ``alerts`` holds: a third of
    # the bytes each joining alert wrote. They are read from there now (``SqlTx.upsert_incident_alert``).
    return ["ALTER TABLE incident_alerts DROP COLUMN labels", "ALTER TABLE incident_alerts DROP COLUMN annotations"]


def _v8(d: Dialect) -> list[str]:
    real = "REAL" if d == "sqlite" else "DOUBLE PRECISION"
    return [
        # An alert state the processor cannot apply is set aside (pending = 0) with the reason, so that it
        # never blocks the alerts after it (docs/operations.md, "Quarantined alerts").
        "ALTER TABLE alerts ADD COLUMN quarantined TEXT",
        # Alerts Alertmanager left out of the body this state came in (``truncatedAlerts``, max_alerts),
        # and that body's ``groupKey`` (written only when it left some out).
        "ALTER TABLE alerts ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE alerts ADD COLUMN group_key TEXT NOT NULL DEFAULT ''",
        # An incident whose latest body left alerts out (``truncated``, seen last at ``truncated_at``)
        # does not resolve with the alerts shown; ``held_since`` is when it would have (docs/escalation.md).
        "ALTER TABLE incidents ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0",
        f"ALTER TABLE incidents ADD COLUMN truncated_at {real}",
        f"ALTER TABLE incidents ADD COLUMN held_since {real}",
        "CREATE INDEX incidents_held ON incidents (truncated_at) WHERE held_since IS NOT NULL",
    ]


def _v9(d: Dialect) -> list[str]:
    # Signed vendor requests already used (Slack request signatures, PagerDuty event ids), kept until
    # their validity window ends, so a captured request replayed to any replica is refused
    # (``receiver.api.replay``). Independent of the other migrations: one new table.
    real = "REAL" if d == "sqlite" else "DOUBLE PRECISION"
    return [
        f"CREATE TABLE seen_requests (key TEXT PRIMARY KEY, expires_at {real} NOT NULL)",
        "CREATE INDEX seen_requests_expires ON seen_requests (expires_at)",
    ]


def _v10(d: Dialect) -> list[str]:
    # The hash-chained audit log (receiver/store/audit.py), personal API tokens (receiver/access/tokens.py),
    # and triggers that refuse UPDATE and DELETE of the audit log and of the timeline (schema version 10).
    real = "REAL" if d == "sqlite" else "DOUBLE PRECISION"
    stmts = [
        # SQLite: INTEGER PRIMARY KEY is the rowid itself (one B-tree per appended record, not two).
        f"""CREATE TABLE audit_log (
            seq {"INTEGER" if d == "sqlite" else "BIGINT"} PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL)""",
        f"""CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT,
            hash TEXT NOT NULL UNIQUE,
            created_at {real} NOT NULL,
            created_by TEXT NOT NULL,
            revoked_at {real})""",
    ]
    if d == "sqlite":
        return stmts + [
            f"CREATE TRIGGER {t}_append_only_{op.lower()} BEFORE {op} ON {t} "
            f"BEGIN SELECT RAISE(ABORT, '{t} is append-only: {op} refused'); END"
            for t in ("audit_log", "timeline") for op in ("UPDATE", "DELETE")
        ]
    return stmts + [
        "CREATE FUNCTION runbookd_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$",
        *[f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
          "FOR EACH ROW EXECUTE FUNCTION runbookd_append_only()" for t in ("audit_log", "timeline")],
        *[f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
          "FOR EACH STATEMENT EXECUTE FUNCTION runbookd_append_only()" for t in ("audit_log", "timeline")],
    ]


def _v11(d: Dialect) -> list[str]:
    # The page path reads a bounded part of an incident (``SqlTx.incident_head``, ``events_of_kinds``,
    # ``jobs_of_kinds``): its first alerts by start, its playbook-step events, its page rows. Without
    # these, each read sorted or filtered every alert, event or row of the incident (docs/performance.md,
    # "Paging cost"). Schema version 11.
    return [
        "CREATE INDEX incident_alerts_start ON incident_alerts (incident_id, starts_ts, fingerprint)",
        "CREATE INDEX timeline_incident_kind ON timeline (incident_id, kind, id)",
        "CREATE INDEX jobs_incident_kind ON jobs (incident_id, kind, id)",
    ]


def _v12(d: Dialect) -> list[str]:
    # Maintenance windows (receiver/maintenance, receiver/store/maintenance.py); ends_at is moved to the
    # time a window is ended early.
    real = "REAL" if d == "sqlite" else "DOUBLE PRECISION"
    return [
        f"""CREATE TABLE maintenance_windows (
            id TEXT PRIMARY KEY,
            matchers TEXT NOT NULL,
            starts_at {real} NOT NULL,
            ends_at {real} NOT NULL,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at {real} NOT NULL,
            ended_by TEXT)""",
        "CREATE INDEX maintenance_windows_ends ON maintenance_windows (ends_at)",
    ]


def _v13(d: Dialect) -> list[str]:
    # Console sign-in sessions (receiver/console/sessions.py): only the SHA-256 of the cookie is stored;
    # ``token_id`` is the personal token signed in with (``admin-token``: the bootstrap token), so a
    # revoked token or a removed person ends its sessions at once on every replica.
    real = "REAL" if d == "sqlite" else "DOUBLE PRECISION"
    return [
        f"""CREATE TABLE console_sessions (
            hash TEXT PRIMARY KEY,
            token_id TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_at {real} NOT NULL,
            expires_at {real} NOT NULL)""",
        "CREATE INDEX console_sessions_expires ON console_sessions (expires_at)",
        # The console's playbook, approval and page events of an incident without reading its
        # ``alert.*`` events (a storm's bulk, which this partial index leaves out and so costs nothing).
        "CREATE INDEX timeline_actions ON timeline (incident_id, id) WHERE kind NOT LIKE 'alert.%'",
    ]


def _v14(d: Dialect) -> list[str]:
    # On-call overrides (receiver/oncall, receiver/store/oncall.py): a person covers [starts_at, ends_at)
    # of a schedule; deleting one removes the row (the audit log keeps its history).
    real = "REAL" if d == "sqlite" else "DOUBLE PRECISION"
    return [
        f"""CREATE TABLE oncall_overrides (
            id TEXT PRIMARY KEY,
            schedule TEXT NOT NULL,
            person TEXT NOT NULL,
            starts_at {real} NOT NULL,
            ends_at {real} NOT NULL,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at {real} NOT NULL)""",
        "CREATE INDEX oncall_overrides_ends ON oncall_overrides (ends_at)",
    ]


MIGRATIONS = (_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12, _v13, _v14)
"""Each entry returns the statements of one schema version for a dialect; append, never edit."""


def migrations(dialect: Dialect) -> list[list[str]]:
    """Return the statements of every schema version for ``dialect``, version 1 first."""
    return [m(dialect) for m in MIGRATIONS]
