"""Build the ``Message`` of a notification from an incident and its timeline (pure)."""

from __future__ import annotations

from receiver.model import Incident, Job, TimelineEvent
from receiver.notify.base import Message, MessageKind

_STEP_KINDS = ("step.ok", "step.dry_run", "step.skipped", "step.failed", "step.unknown")


#: Timeline kinds of a finished playbook step: the only events a notification reads.
STEP_KINDS = _STEP_KINDS
#: Payload key of a row held back by a channel's rate limit: the start of the slot it reserved.
RATE_SLOT = "rate_slot"


def action_lines(timeline: list[TimelineEvent], left_out: int = 0) -> list[str]:
    """One line per finished playbook step, e.g. ``"stop-trading (http): ok — POST … -> 200"``.

    ``left_out`` earlier steps that were not read are summed up in a first line ``… and N more
    earlier step(s)``.
    """
    lines = [e.message.replace("step '", "", 1).replace("'", "", 1) for e in timeline if e.kind in _STEP_KINDS]
    if left_out > 0:
        lines.insert(0, f"… and {left_out} more earlier step(s): see the incident")
    return lines


def build_message(kind: MessageKind, incident: Incident, timeline: list[TimelineEvent], *, ref: str | None,
                  dry_run: bool, external_url: str, text: str | None = None, steps_left_out: int = 0) -> Message:
    """Return the message of ``kind`` for ``incident``; annotations come from its first alert.

    Only the first of ``incident.alerts`` and the step events of ``timeline`` are read, so a caller
    may pass a bounded sample (``Tx.incident_head``, ``Tx.events_of_kinds``); ``steps_left_out``:
    earlier step events it did not read.
    """
    first = incident.alerts[0] if incident.alerts else None
    ann = first.annotations if first else {}
    labels = dict(first.labels) if first else dict(incident.labels)
    return Message(
        kind=kind,
        incident_id=incident.id,
        dedup_key=f"runbookd-{incident.id}",
        severity=incident.severity,
        status=incident.status,
        title=incident.title,
        summary=ann.get("summary", ""),
        description=_left_out(ann.get("description", ""), incident),
        labels=labels,
        runbook_url=ann.get("runbook_url") or ann.get("runbook") or None,
        actions=action_lines(timeline, steps_left_out),
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        acknowledged_by=incident.acknowledged_by,
        incident_url=f"{external_url.rstrip('/')}/incidents/{incident.id}",
        dry_run=dry_run,
        ref=ref,
        text=text,
    )


def _left_out(description: str, incident: Incident) -> str:
    """The description, plus how many alerts Alertmanager's latest body left out (max_alerts)."""
    if not incident.truncated:
        return description
    note = (f"Alertmanager left {incident.truncated} more alert(s) of this group out of its notification "
            "(max_alerts): only the alerts it sent are shown.")
    return f"{description}\n{note}" if description else note


def page_in_flight(jobs: list[Job], receiver: str, now: float | None = None) -> bool:
    """Whether a page to ``receiver`` is being sent, or due (by ``now``) and not sent yet, or held
    back a moment by the channel's rate limit (payload ``rate_slot``), so a follow-up should wait
    for its reference. Pages due later (a later escalation step) do not count."""
    return any(
        j.kind == "page" and j.payload.get("receiver") == receiver and (
            j.state == "running" or (j.state == "pending" and (
                now is None or j.due_at <= now or j.payload.get(RATE_SLOT) is not None)))
        for j in jobs
    )
