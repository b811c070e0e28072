"""The variables message templates see (pure): built from a ``Message``, an incident, or a day of them.

Every context shares these names where they apply, so an operator learns one shape:
``kind``, ``incident_id``, ``severity``, ``status`` (``firing``/``acknowledged``/``resolved``),
``state`` (the same, upper case), ``phase`` (seed 004's ``INVESTIGATING``/``MITIGATING``/``RESOLVED``
for firing/acknowledged/resolved), ``title``, ``summary``, ``description``, ``runbook_url``,
``labels`` (dict), ``service`` (label ``service``, else ``job``), ``actions`` (one line per finished
playbook step), ``started_at``/``resolved_at`` (``2026-01-05 14:30:00 UTC``, ``""`` when unset),
``started_ts``/``resolved_ts`` (epoch seconds), ``duration`` (``12m 5s``), ``acknowledged_by``,
``incident_url``, ``postmortem_url`` (P0/P1 only), ``dry_run``, ``text``, ``now``.
Times are UTC; label and annotation values are passed as data, never compiled as templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from receiver.clock import format_utc as format_time
from receiver.durations import humanize_duration as format_duration
from receiver.escalation.response import response_summary
from receiver.model import Incident, IncidentAlert, TimelineEvent
from receiver.notify.base import Message

PHASES = {"firing": "INVESTIGATING", "acknowledged": "MITIGATING", "resolved": "RESOLVED"}
#: Timeline kinds that end a playbook step (``step.interrupted`` ends one only when nothing follows).
FINAL_STEP_KINDS = ("step.ok", "step.dry_run", "step.skipped", "step.failed", "step.unknown")
POSTMORTEM_SEVERITIES = ("P0", "P1")






def _service(labels: dict[str, str]) -> str:
    return labels.get("service") or labels.get("job") or ""


def _urls(incident_url: str, severity: str) -> dict[str, str]:
    pm = f"{incident_url}/postmortem" if incident_url and severity in POSTMORTEM_SEVERITIES else ""
    return {"incident_url": incident_url, "postmortem_url": pm}


def message_context(message: Message, *, now: float | None = None) -> dict[str, Any]:
    """The variables of ``alert``/``update``/``resolved`` (and of digest/deadman messages) for one message.

    Besides the shared names: ``ref`` (provider reference of the page), ``dedup_key``, ``approval``
    (an approval request: ``step``, ``action``, ``params``, ``approvers``, ``deadline`` in epoch
    seconds, ``on_timeout``; ``{}`` otherwise). ``duration``
    runs to ``resolved_at``, else to ``now`` when given, else is ``""``.
    """
    end = message.resolved_at if message.resolved_at is not None else now
    started = message.started_at or None
    return {
        "kind": message.kind,
        "incident_id": message.incident_id,
        "dedup_key": message.dedup_key,
        "severity": message.severity,
        "status": message.status,
        "state": (message.status or "firing").upper(),
        "phase": PHASES.get(message.status, "INVESTIGATING"),
        "title": message.title,
        "summary": message.summary,
        "description": message.description,
        "runbook_url": message.runbook_url or "",
        "labels": dict(message.labels),
        "service": _service(message.labels),
        "actions": list(message.actions),
        "started_at": format_time(started),
        "started_ts": message.started_at,
        "resolved_at": format_time(message.resolved_at),
        "resolved_ts": message.resolved_at,
        "duration": format_duration(end - message.started_at) if started and end is not None else "",
        "acknowledged_by": message.acknowledged_by or "",
        **_urls(message.incident_url or "", message.severity),
        "dry_run": message.dry_run,
        "text": message.text or "",
        "ref": message.ref or "",
        "approval": dict(getattr(message, "approval", None) or {}),
        "now": format_time(now),
    }


def _step_summary(e: TimelineEvent) -> str:
    if e.kind == "step.failed" and "failed: " in e.message:
        return e.message.split("failed: ", 1)[1]
    if " — " in e.message:
        return e.message.split(" — ", 1)[1]
    return e.message


def _steps(events: list[TimelineEvent]) -> list[dict[str, Any]]:
    """Finished playbook steps in order: ``at``, ``ts``, ``name``, ``action``, ``outcome``, ``summary``, ``params``."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    for i, e in enumerate(events):
        name = str(e.data.get("step", ""))
        if e.kind == "step.started":
            params[name] = e.data.get("params", {})
            continue
        final = e.kind in FINAL_STEP_KINDS
        if e.kind == "step.interrupted":
            # Cut off by a crash: final ("outcome unknown") unless a retry of the same step followed.
            final = not any(x.kind in FINAL_STEP_KINDS and x.data.get("step") == name for x in events[i + 1:])
        if not final:
            continue
        outcome = "unknown" if e.kind == "step.interrupted" else str(e.data.get("outcome") or e.kind[5:])
        out.append({"at": format_time(e.at), "ts": e.at, "name": name, "action": str(e.data.get("action", "")),
                    "outcome": outcome, "summary": _step_summary(e), "params": params.get(name, {})})
    return out


def _notifications(events: list[TimelineEvent]) -> list[dict[str, Any]]:
    """``notify.*`` events: ``at``, ``receiver``, ``channel``, ``kind``, ``outcome``, ``ref``, ``message``."""
    return [
        {"at": format_time(e.at), "ts": e.at, "receiver": str(e.data.get("receiver") or ""),
         "channel": str(e.data.get("channel") or ""), "kind": str(e.data.get("kind") or ""),
         "outcome": e.kind.split(".", 1)[1], "ref": str(e.data.get("ref") or ""), "message": e.message}
        for e in events if e.kind.startswith("notify.")
    ]


def _alert(a: IncidentAlert) -> dict[str, Any]:
    return {"name": a.labels.get("alertname", ""), "fingerprint": a.fingerprint, "status": a.status,
            "labels": dict(a.labels), "annotations": dict(a.annotations),
            "starts_at": format_time(a.starts_ts), "ends_at": format_time(a.ends_ts)}


def incident_context(incident: Incident, timeline: list[TimelineEvent], now: float, *,
                     external_url: str | None = None, respond_within: float | None = None) -> dict[str, Any]:
    """The variables of ``report`` and ``postmortem`` (and of each ``digest`` entry) for one incident.

    Besides the shared names: ``rule``, ``playbook``, ``reopened`` (times reopened), ``alerts`` (each
    ``name``, ``fingerprint``, ``status``, ``labels``, ``annotations``, ``starts_at``, ``ends_at``),
    ``detected_at`` (the earliest alert ``startsAt``), ``received_at`` (first ``alert.firing`` event),
    ``mitigated_at`` (first step with outcome ``ok``), ``timeline`` (``at``, ``ts``, ``kind``,
    ``message``, ``data``; oldest first), ``steps`` (``at``, ``name``, ``action``, ``outcome``,
    ``summary``, ``params``), ``notifications`` (``at``, ``receiver``, ``channel``, ``kind``,
    ``outcome``, ``ref``, ``message``), ``acks`` and ``acknowledged`` (the first: ``at``, ``by``,
    ``via``, ``after``), ``resolution`` (``at``, ``by``, ``via``, ``message``) and ``ongoing``.
    ``duration`` runs to ``resolved_at``, or to ``now`` while the incident is open. ``response``: the
    times to acknowledge and resolve against ``respond_within`` (``receiver.escalation.response``).
    """
    events = sorted(timeline, key=lambda e: e.at)
    first = incident.alerts[0] if incident.alerts else None
    ann = first.annotations if first else {}
    steps = _steps(events)
    acks = [{"at": format_time(e.at), "ts": e.at, "by": str(e.data.get("by") or ""),
             "via": str(e.data.get("via") or ""), "after": format_duration(e.at - incident.started_at)}
            for e in events if e.kind == "incident.acknowledged"]
    if not acks and incident.acknowledged_at is not None:
        acks = [{"at": format_time(incident.acknowledged_at), "ts": incident.acknowledged_at,
                 "by": incident.acknowledged_by or "", "via": "",
                 "after": format_duration(incident.acknowledged_at - incident.started_at)}]
    resolved = [e for e in events if e.kind == "incident.resolved"]
    resolution = None
    if resolved:
        e = resolved[-1]
        resolution = {"at": format_time(e.at), "ts": e.at, "by": str(e.data.get("by") or ""),
                      "via": str(e.data.get("via") or ""), "message": e.message}
    received = next((e.at for e in events if e.kind == "alert.firing"), incident.started_at)
    detected = min((a.starts_ts for a in incident.alerts), default=received)
    mitigated = next((s["ts"] for s in steps if s["outcome"] == "ok"), None)
    end = incident.resolved_at if incident.resolved_at is not None else now
    url = f"{external_url.rstrip('/')}/incidents/{incident.id}" if external_url else ""
    return {
        "kind": "incident",
        "incident_id": incident.id,
        "severity": incident.severity,
        "status": incident.status,
        "state": incident.status.upper(),
        "phase": PHASES.get(incident.status, "INVESTIGATING"),
        "title": incident.title,
        "rule": incident.rule,
        "playbook": incident.playbook or "",
        "reopened": incident.epoch,
        "summary": ann.get("summary", ""),
        "description": ann.get("description", ""),
        "runbook_url": ann.get("runbook_url") or ann.get("runbook") or "",
        "labels": dict(incident.labels),
        "service": _service(dict(first.labels) if first else dict(incident.labels)),
        "alerts": [_alert(a) for a in incident.alerts],
        "actions": [f"{s['name']} ({s['action']}): {s['outcome']} — {s['summary']}" for s in steps],
        "started_at": format_time(incident.started_at),
        "started_ts": incident.started_at,
        "resolved_at": format_time(incident.resolved_at),
        "resolved_ts": incident.resolved_at,
        "ongoing": incident.resolved_at is None,
        "duration": format_duration(end - incident.started_at),
        "detected_at": format_time(detected),
        "received_at": format_time(received),
        "mitigated_at": format_time(mitigated),
        "acknowledged_by": incident.acknowledged_by or (acks[0]["by"] if acks else ""),
        "acknowledged": acks[0] if acks else None,
        "acks": acks,
        "resolution": resolution,
        "timeline": [{"at": format_time(e.at), "ts": e.at, "kind": e.kind, "message": e.message,
                      "data": dict(e.data)} for e in events],
        "steps": steps,
        "notifications": _notifications(events),
        **_urls(url, incident.severity),
        "dry_run": any(s["outcome"] == "dry_run" for s in steps),
        "response": response_summary(incident, events, now, respond_within),
        "text": "",
        "now": format_time(now),
        "generated_at": format_time(now),
    }


def digest_context(incidents: Iterable[Incident], *, since: float, until: float, now: float,
                   external_url: str | None = None, targets: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The variables of ``digest.txt.j2``: the incidents of the period ``[since, until)``.

    ``since``/``until``/``now`` (formatted UTC), ``count``, ``open_count``, ``resolved_count``,
    ``severities`` (sorted) and ``incidents`` (each an ``incident_context`` without timeline),
    oldest first; ``targets`` (``{severity: respond_within seconds}``) sets each entry's ``response``.
    """
    items = sorted(incidents, key=lambda i: i.started_at)
    entries = [incident_context(i, [], now, external_url=external_url,
                                respond_within=(targets or {}).get(i.severity)) for i in items]
    resolved = sum(1 for i in items if i.status == "resolved")
    return {
        "kind": "digest",
        "since": format_time(since),
        "until": format_time(until),
        "now": format_time(now),
        "count": len(items),
        "open_count": len(items) - resolved,
        "resolved_count": resolved,
        "severities": sorted({i.severity for i in items}),
        "incidents": entries,
    }


def deadman_context(*, heartbeat: str, last_seen: float | None, now: float, after: float,
                    external_url: str | None = None) -> dict[str, Any]:
    """The variables of ``deadman.txt.j2``.

    ``heartbeat`` (the alert name, e.g. ``Watchdog``), ``last_seen`` (UTC, ``""`` if never),
    ``silent_for`` (``12m 5s`` since ``last_seen``, ``""`` if never), ``after`` (the configured
    period as a duration), ``now``, ``webhook_url`` (runbookd's Alertmanager webhook, when known).
    """
    base = external_url.rstrip("/") if external_url else ""
    return {
        "kind": "deadman",
        "severity": "P0",
        "heartbeat": heartbeat,
        "last_seen": format_time(last_seen),
        "silent_for": format_duration(now - last_seen) if last_seen is not None else "",
        "after": format_duration(after),
        "now": format_time(now),
        "webhook_url": f"{base}/webhook/alertmanager" if base else "",
    }


def sample_contexts() -> dict[str, dict[str, Any]]:
    """A context per template name from a sample P0 incident (used by ``Templates.check``)."""
    t0 = 1_800_000_000.0
    alert = IncidentAlert("a1b2c3d4e5f60718", "2027-01-15T08:00:00.000000Z", "resolved",
                          {"alertname": "TradingSystemDown", "job": "trading-engine"},
                          {"summary": "Trading system is down", "description": "no heartbeat"}, t0, t0 + 725)
    incident = Incident(id="0001a2b3c4d5e6f7a8b9", identity="TradingSystemDown", rule="trading-down", severity="P0",
                        status="resolved", labels={"alertname": "TradingSystemDown"}, title="TradingSystemDown",
                        playbook="halt", rules_version="sample", started_at=t0, updated_at=t0 + 725,
                        resolved_at=t0 + 725, acknowledged_at=t0 + 60, acknowledged_by="alice", alerts=(alert,))
    timeline = [
        TimelineEvent(t0, "alert.firing", "alert TradingSystemDown firing", {}),
        TimelineEvent(t0 + 1, "step.ok", "step 'halt' (http): ok — POST /halt -> 200",
                      {"step": "halt", "action": "http", "outcome": "ok"}),
        TimelineEvent(t0 + 2, "notify.ok", "page to oncall (slack): sent, ref C1:1.2",
                      {"receiver": "oncall", "channel": "slack", "kind": "page", "ref": "C1:1.2"}),
        TimelineEvent(t0 + 60, "incident.acknowledged", "acknowledged by alice via slack",
                      {"by": "alice", "via": "slack"}),
        TimelineEvent(t0 + 725, "incident.resolved", "all alerts resolved after 725s", {"by": None, "via": "alerts"}),
    ]
    message = Message(kind="page", incident_id=incident.id, dedup_key=f"runbookd-{incident.id}", severity="P0",
                      status="firing", title=incident.title, summary="Trading system is down",
                      labels=dict(alert.labels), actions=["halt (http): ok — POST /halt -> 200"], started_at=t0,
                      incident_url=f"http://127.0.0.1:9096/incidents/{incident.id}")
    resolved = replace(message, kind="resolve", status="resolved", resolved_at=t0 + 725)
    inc = incident_context(incident, timeline, t0 + 800, external_url="http://127.0.0.1:9096", respond_within=300)
    return {
        "alert.txt.j2": message_context(message, now=t0 + 30),
        "update.txt.j2": message_context(replace(message, kind="update"), now=t0 + 900),
        "resolved.txt.j2": message_context(resolved, now=t0 + 725),
        "report.txt.j2": inc,
        "postmortem.md.j2": inc,
        "digest.txt.j2": digest_context([incident], since=t0 - 86400, until=t0 + 3600, now=t0 + 3600,
                                        targets={"P0": 300}),
        "deadman.txt.j2": deadman_context(heartbeat="Watchdog", last_seen=t0, now=t0 + 900, after=600),
    }
