"""Truncated groups (``max_alerts``): an incident never resolves on the alerts a truncated body showed.

Alertmanager sends only the first ``max_alerts`` alerts of a group and counts the rest in
``truncatedAlerts``. Each alert state carries its body's count; the incident keeps the latest one.
When every alert shown has resolved but the body left some out, the incident is *held* open
(``held_since``) until a complete body shows its alerts resolved, a firing alert ends the hold, or no
truncated body came for ``truncated_resolve_timeout`` (then it resolves unconfirmed). The rule is
written down in docs/escalation.md, "Truncated groups".
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from receiver.incidents.lifecycle import resolve
from receiver.model import AlertRecord, Incident, TimelineEvent

#: Seconds an incident held open by a truncated body waits for another body of its group before it
#: resolves unconfirmed (``truncated_resolve_timeout``; above Alertmanager's default repeat_interval, 4h).
TRUNCATED_TIMEOUT = 5 * 3600.0
#: Seconds: ``truncated_at`` moves only when at least this old (a storm of re-sends writes it once a second).
GRANULARITY = 1.0


def note_truncation(tx: Any, inc: Incident, a: AlertRecord, now: float, *, hold: bool, timeout: float) -> Incident:
    """Record what ``a``'s body said about alerts left out (``truncatedAlerts``) on its open incident.

    ``hold``: every alert shown is resolved. With alerts left out the incident is then held open
    (``held_since``) instead of resolving; a complete body releases it (the caller resolves), a
    firing alert ends the hold. Returns the incident as now stored.
    """
    fields: dict[str, Any] = {}
    if a.truncated != inc.truncated:
        fields["truncated"] = a.truncated
        tx.add_event(inc.id, truncated_event(a, now) if a.truncated else TimelineEvent(
            now, "alert.complete", "Alertmanager's latest body of the group shows every alert again "
            f"(it had left {inc.truncated} out)", {"group_key": a.group_key}))
    if a.truncated and (inc.truncated_at is None or now - inc.truncated_at >= GRANULARITY):
        fields["truncated_at"] = now
    if hold and a.truncated and inc.held_since is None:
        fields["held_since"] = now
        tx.add_event(inc.id, TimelineEvent(
            now, "incident.held",
            f"every alert shown is resolved, but Alertmanager left {a.truncated} alert(s) of the group out "
            f"of its body (truncatedAlerts): the incident stays open until a body showing every alert "
            f"reports them resolved, or until no body of the group has come for {timeout:.0f}s",
            {"truncated": a.truncated, "group_key": a.group_key, "timeout_seconds": timeout}))
    elif inc.held_since is not None and (not hold or not a.truncated):
        fields["held_since"] = None
        if not hold:
            tx.add_event(inc.id, TimelineEvent(now, "incident.unheld", "an alert of the group fires: no longer "
                                               "waiting for the alerts left out to resolve", {}))
    if not fields:
        return inc
    tx.update_incident(inc.id, **fields)
    return replace(inc, **fields)


def truncated_event(a: AlertRecord, now: float) -> TimelineEvent:
    """``alert.truncated``: how many alerts the body of ``a`` left out."""
    return TimelineEvent(
        now, "alert.truncated", f"Alertmanager left {a.truncated} alert(s) of the group out of its body "
        "(max_alerts, truncatedAlerts): they are not shown here", {"truncated": a.truncated, "group_key": a.group_key})


def release_held(tx: Any, now: float, timeout: float, rules: Any) -> list[Incident]:
    """Resolve, unconfirmed, every held incident whose group sent no truncated body for ``timeout``
    seconds before ``now`` (epoch seconds), with ``incident.unconfirmed`` on its timeline. Returns them."""
    released = []
    for inc in tx.held_incidents(now - timeout):
        quiet = now - (inc.truncated_at or inc.held_since or now)
        tx.add_event(inc.id, TimelineEvent(
            now, "incident.unconfirmed",
            f"resolved unconfirmed: every alert Alertmanager showed resolved, but its last body left "
            f"{inc.truncated} alert(s) out (truncatedAlerts) and no body of the group came for {quiet:.0f}s; "
            f"runbookd never saw those alerts resolve",
            {"truncated": inc.truncated, "held_since": inc.held_since, "quiet_seconds": quiet}))
        tx.update_incident(inc.id, held_since=None)
        resolve(tx, inc, now=now, by=None, via="alerts", rules=rules)
        released.append(inc)
    return released
