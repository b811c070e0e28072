"""Domain records shared by the store and the layers above it (plain frozen dataclasses).

Times are epoch seconds (UTC) as ``float``; labels and annotations are ``dict[str, str]``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

AlertStatus = Literal["firing", "resolved"]
IncidentStatus = Literal["firing", "acknowledged", "resolved"]
JobState = Literal["pending", "running", "done", "failed", "cancelled", "unknown"]
#: Kinds of work rows: a playbook step; a notification of one kind (see notify.base.Message); a
#: re-notification of an acknowledged incident (``notice``); the post-mortem link; a daily digest;
#: the dead man's switch page (``deadman``) and its resolve (``deadman_resolve``); a response target's
#: breach timer or response-time measure (``target``, receiver.escalation.targets).
JobKind = Literal[
    "step", "page", "update", "refresh", "resolve", "ack", "notice", "postmortem", "digest", "deadman",
    "deadman_resolve", "approval", "target", "silence",
]


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert as Alertmanager sent it; identified by ``(fingerprint, starts_at)``.

    ``starts_at`` is the canonical RFC 3339 text (UTC, microseconds) so the same instant written
    with different fractional digits is the same key; ``ends_at`` is ``None`` while firing.
    """

    fingerprint: str
    starts_at: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_ts: float
    ends_ts: float | None = None
    generator_url: str = ""
    #: Alerts Alertmanager left out of the body this state came in (its ``truncatedAlerts``, max_alerts).
    truncated: int = 0
    #: The body's ``groupKey`` (opaque; for logs and the timeline, never an incident's identity).
    group_key: str = ""


@dataclass(frozen=True, slots=True)
class IncidentAlert:
    """An alert as tracked by an incident (by fingerprint; ``starts_at`` of its latest episode)."""

    fingerprint: str
    starts_at: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_ts: float
    ends_ts: float | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident: one rule plus its ``group_by`` identity, with the alerts it tracks.

    ``epoch`` counts reopenings (0 for a new incident); ``rules_version`` is the content hash of
    the rule files that decided it.
    """

    id: str
    identity: str
    rule: str
    severity: str
    status: IncidentStatus
    labels: dict[str, str]
    title: str
    playbook: str | None
    rules_version: str
    started_at: float
    updated_at: float
    resolved_at: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    epoch: int = 0
    #: ``active``, or ``shadow`` when its rule was in shadow mode at opening: nothing is executed or sent.
    mode: str = "active"
    alerts: tuple[IncidentAlert, ...] = ()
    #: Alerts the latest Alertmanager body of its group left out (``truncatedAlerts``), 0 when complete;
    #: ``truncated_at`` when such a body was last applied (epoch seconds).
    truncated: int = 0
    truncated_at: float | None = None
    #: Set (epoch seconds) while every alert shown is resolved but the body left alerts out: the
    #: incident waits for a complete body or for ``truncated_resolve_timeout`` (docs/escalation.md).
    held_since: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the admin API's JSON form (DESIGN.md, ``GET /api/v1/incidents``); times RFC 3339."""
        from receiver.clock import iso

        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity,
            "status": self.status,
            "title": self.title,
            "labels": self.labels,
            "playbook": self.playbook,
            "rules_version": self.rules_version,
            "alerts": [
                {
                    "fingerprint": a.fingerprint,
                    "status": a.status,
                    "starts_at": a.starts_at,
                    "ends_at": iso(a.ends_ts),
                    "labels": a.labels,
                }
                for a in self.alerts
            ],
            "started_at": iso(self.started_at),
            "updated_at": iso(self.updated_at),
            "resolved_at": iso(self.resolved_at),
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "reopened": self.epoch,
            "mode": self.mode,
            "truncated_alerts": self.truncated,
            "held_since": iso(self.held_since),
        }


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One entry of an incident's timeline: ``kind`` like ``alert.firing``, ``step.ok``, ``notify.ok``."""

    at: float
    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return ``{"at", "kind", "message", "data"}`` with ``at`` in RFC 3339."""
        from receiver.clock import iso

        return {"at": iso(self.at), "kind": self.kind, "message": self.message, "data": self.data}


@dataclass(frozen=True, slots=True)
class Job:
    """A row of due work claimed from the store.

    ``key`` is the idempotency key (unique); ``takeover`` is true when this claim took the row
    from a claimer whose lease ran out while it was ``running`` (a crash cut it off).
    """

    id: int
    key: str
    kind: JobKind
    incident_id: str
    payload: dict[str, Any]
    state: JobState
    due_at: float
    attempts: int
    takeover: bool = False


def new_incident_id(now: float) -> str:
    """Return a new incident id: 12 hex digits of milliseconds then 8 random hex (sortable by time)."""
    return f"{int(now * 1000):012x}{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Change:
    """The outcome of a state change of an incident (acknowledge, resolve, an approval's answer, a manual
    run): ``ok`` false with ``reason`` and an HTTP-like ``status`` (404, 409, …) when refused."""

    ok: bool
    incident: Incident | None
    reason: str = ""
    status: int = 200
