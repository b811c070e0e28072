"""Outcome feeds escalation: a failed, skipped or rejected step pages at once or raises the severity.

Runs inside the transaction that records the step (see ``runner``), so the page and the record
commit together. Pages go to every receiver of the incident's escalation policy at once (not after
its delays), as ``notice`` rows; a raised severity re-plans the pages of the new severity's policy.
"""

from __future__ import annotations

from typing import Any

from receiver.escalation.planner import plan_pages
from receiver.model import Incident, TimelineEvent
from receiver.rules.safety import OnFailure

_ORDER = {"P0": 0, "P1": 1, "P2": 2, "P3": 3}


def policy_receivers(rules: Any, severity: str) -> list[str]:
    """Every receiver of the escalation steps of ``severity``'s policy, in order, once each."""
    policy = rules.escalation_policies.get(severity) if rules is not None else None
    out: list[str] = []
    for step in (policy.steps if policy else []):
        for r in step.notify:
            if r not in out:
                out.append(r)
    return out


def page_now(tx: Any, inc: Incident, rules: Any, text: str, tag: str, now: float) -> int:
    """Page every receiver of the incident's policy at once with ``text``. Returns rows added."""
    n = 0
    for r in policy_receivers(rules, inc.severity):
        n += tx.enqueue(f"notice:{inc.id}:{inc.epoch}:{tag}:{r}", "notice", inc.id,
                        {"receiver": r, "text": text}, now, now)
    return n


def apply_on_failure(tx: Any, incident_id: str, rules: Any, on_failure: OnFailure, text: str, tag: str,
                     now: float) -> bool:
    """Apply ``on_failure`` for a step that did not do its job. Returns whether the playbook must stop."""
    inc = tx.get_incident(incident_id)
    if inc is None or inc.status == "resolved":
        return on_failure.stop
    raised = on_failure.raise_severity
    if raised is not None and _ORDER[raised] < _ORDER[inc.severity]:
        tx.update_incident(inc.id, severity=raised, updated_at=now)
        tx.add_event(inc.id, TimelineEvent(now, "incident.severity_raised",
                                           f"severity raised {inc.severity} → {raised}: {text}",
                                           {"from": inc.severity, "to": raised}))
        policy = rules.escalation_policies.get(raised) if rules is not None else None
        for j in plan_pages(inc.id, inc.epoch, now, policy, tag=f"-{raised}"):
            tx.enqueue(j.key, j.kind, inc.id, {**j.payload, "text": text}, j.due_at, now)
        return on_failure.stop  # the raised policy's pages go out at once, carrying the text
    if on_failure.page and inc is not None:
        page_now(tx, inc, rules, text, tag, now)
    return on_failure.stop
