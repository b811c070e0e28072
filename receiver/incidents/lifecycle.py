"""State changes of an incident made by people or by its alerts: acknowledge and resolve.

Each function runs inside one store transaction (``Store.transaction``): it checks the current
state, writes the change and its timeline event, cancels the paging rows it makes obsolete and
enqueues the notifications that reflect the change everywhere the incident was paged — except back
to the channel it came from (an acknowledgement made in PagerDuty is not sent to PagerDuty again).
"""

from __future__ import annotations

from typing import Any, Literal

from receiver.escalation import targets
from receiver.escalation.planner import paged_receivers, plan_resolve
from receiver.maintenance import silences
from receiver.model import Change, Incident, TimelineEvent
from receiver.notify import channel_traits
from receiver.playbooks.payload import playbook_payload

#: Where a person acted: the admin API, a Slack button, a PagerDuty webhook, a key pressed on a Twilio call.
Via = Literal["api", "slack", "pagerduty", "alerts", "console", "voice"]


def _told_already(rules: Any, name: str, via: str) -> bool:
    """Whether receiver ``name``'s channel made this change itself (``via`` it) and keeps it (``syncs_ack``)."""
    rcv = rules.receivers.get(name) if rules is not None else None
    return rcv is not None and rcv.kind == via and channel_traits(rcv.kind).syncs_ack


def acknowledge(tx: Any, incident_id: str, *, by: str, via: Via, now: float, rules: Any) -> Change:
    """Acknowledge a firing incident: paging stops, every page is updated to show who and where.

    Idempotent: acknowledging an acknowledged incident changes nothing. A resolved incident cannot
    be acknowledged (``status`` 409). Unknown incident: ``status`` 404.
    """
    inc = tx.get_incident(incident_id, for_update=True)
    if inc is None:
        return Change(False, None, f"no incident {incident_id!r}", 404)
    if inc.status == "resolved":
        return Change(False, inc, "incident is resolved", 409)
    if inc.status == "acknowledged":
        return Change(True, inc, f"already acknowledged by {inc.acknowledged_by}")
    tx.update_incident(inc.id, status="acknowledged", acknowledged_at=now, acknowledged_by=by, updated_at=now)
    cancelled = tx.cancel_jobs(inc.id, ("page",), now)
    tx.add_event(inc.id, TimelineEvent(
        now, "incident.acknowledged", f"acknowledged by {by} via {via}",
        {"by": by, "via": via, "cancelled_pages": cancelled}))
    for r in paged_receivers(tx.jobs_of(inc.id)):
        if _told_already(rules, r, via):
            continue
        tx.enqueue(f"ack:{inc.id}:{inc.epoch}:{r}", "ack", inc.id, {"receiver": r}, now, now)
    targets.record(tx, inc, "acknowledged", now)
    silences.plan_ack(tx, inc, now, by, rules)  # a row: an unreachable Alertmanager never blocks the ack
    return Change(True, tx.get_incident(inc.id))


def resolve(tx: Any, inc: Incident, *, now: float, by: str | None, via: Via, rules: Any) -> Incident:
    """Resolve ``inc``: stop paging and updates, record it, and send resolve notices to paged receivers.

    ``by`` is the person (``None`` when the incident's alerts resolved). Protective actions are not
    undone: resolve only changes the incident and its notifications.
    """
    tx.update_incident(inc.id, status="resolved", resolved_at=now, updated_at=now)
    cancelled = tx.cancel_jobs(inc.id, ("page", "update"), now)
    who = f"resolved by {by} via {via}" if by else f"all alerts resolved after {now - inc.started_at:.0f}s"
    tx.add_event(inc.id, TimelineEvent(
        now, "incident.resolved", who,
        {"by": by, "via": via, "cancelled_notifications": cancelled, "duration_seconds": now - inc.started_at}))
    receivers = [
        r for r in paged_receivers(tx.jobs_of(inc.id))
        if not _told_already(rules, r, via)
    ]
    for j in plan_resolve(inc.id, inc.epoch, receivers, now):
        tx.enqueue(j.key, j.kind, inc.id, j.payload, j.due_at, now)
    targets.record(tx, inc, "resolved", now)
    silences.plan_resolve(tx, inc, now)
    if inc.severity in ("P0", "P1"):
        tx.enqueue(f"postmortem:{inc.id}:{inc.epoch}", "postmortem", inc.id, {"epoch": inc.epoch}, now, now)
    _on_resolved(tx, inc, now, rules)
    return inc


def _on_resolved(tx: Any, inc: Incident, now: float, rules: Any) -> None:
    """Carry out the playbook's ``on_resolved``: resolved is not undo, it only notifies or runs its steps."""
    playbook = rules.playbooks.get(inc.playbook) if rules is not None and inc.playbook else None
    if playbook is None:
        return
    on = playbook.on_resolved
    text = (f"{inc.title} resolved. Protective actions of playbook '{inc.playbook}' stay in force "
            "(halts, cancels, flattening are not undone): re-arm the system by hand when it is safe.")
    for r in on.notify:
        tx.enqueue(f"notice:{inc.id}:{inc.epoch}:resolved:{r}", "notice", inc.id, {"receiver": r, "text": text},
                   now, now)
    rule = rules.rule(inc.rule)
    if on.steps and rule is not None:
        tx.enqueue(f"rstep:{inc.id}:{inc.epoch}:0", "step", inc.id,
                   playbook_payload(rules, rule, inc, on.steps, "resolved", inc.epoch), now, now)


def resolve_manually(tx: Any, incident_id: str, *, by: str, via: Via, now: float, rules: Any) -> Change:
    """Resolve an incident on a person's word (API, Slack, PagerDuty). Idempotent; 404 when unknown."""
    inc = tx.get_incident(incident_id, for_update=True)
    if inc is None:
        return Change(False, None, f"no incident {incident_id!r}", 404)
    if inc.status == "resolved":
        return Change(True, inc, "already resolved")
    resolve(tx, inc, now=now, by=by, via=via, rules=rules)
    return Change(True, tx.get_incident(inc.id))


def notify_joined(tx: Any, inc: Incident, fingerprint: str, now: float) -> int:
    """A new alert joined an acknowledged incident: re-notify every paged receiver. Returns rows added."""
    n = 0
    for r in paged_receivers(tx.jobs_of(inc.id)):
        n += tx.enqueue(f"notice:{inc.id}:{inc.epoch}:{fingerprint}:{r}", "notice", inc.id,
                        {"receiver": r, "fingerprint": fingerprint}, now, now)
    return n
