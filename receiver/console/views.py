"""What each console page shows, read in one store transaction of bounded size.

Each function takes a ``SqlTx`` and returns the template context of a page. Lists are paged in SQL
(``LIMIT``/``OFFSET``): an incident with 20,000 alerts costs one page of alerts, one page of its
timeline and its playbook, approval and notification events (each capped), never the whole incident.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from receiver.escalation.context import FINAL_STEP_KINDS
from receiver.playbooks.gates import paused
from receiver.playbooks.steps import stored_field
from receiver.store import audit as audit_rows

INCIDENTS_PER_PAGE = 50
ALERTS_PER_PAGE = 50
TIMELINE_PER_PAGE = 100
EVENTS_CAP = 500
"""At most this many playbook or notification events are read for one incident page."""
AUDIT_PER_PAGE = 100
STATUSES = ("firing", "acknowledged", "resolved")
SEVERITIES = ("P0", "P1", "P2", "P3")


@dataclass(frozen=True)
class Filters:
    """The incident list's filters (``None``: any) and page (0-based)."""

    status: str | None = None
    severity: str | None = None
    alertname: str | None = None
    page: int = 0

    def query(self, **change: Any) -> str:
        """The query string of these filters with ``change`` applied (``page`` 0 left out)."""
        values = {"status": self.status, "severity": self.severity, "alertname": self.alertname,
                  "page": self.page} | change
        parts = [f"{k}={_quote(str(v))}" for k, v in values.items() if v not in (None, "", 0)]
        return ("?" + "&".join(parts)) if parts else ""


def _quote(text: str) -> str:
    from urllib.parse import quote
    return quote(text, safe="")


def incidents(tx: Any, f: Filters, now: float) -> dict[str, Any]:
    """The incident list: one page newest first with alert counts and playbook progress."""
    rows = tx.incident_page(status=f.status, severity=f.severity, alertname=f.alertname,
                            limit=INCIDENTS_PER_PAGE + 1, offset=f.page * INCIDENTS_PER_PAGE)
    more = len(rows) > INCIDENTS_PER_PAGE
    rows = rows[:INCIDENTS_PER_PAGE]
    progress = tx.playbook_progress([i.id for i, _ in rows])
    items = [{"incident": i, "alerts": n, "age": (i.resolved_at or now) - i.started_at,
              "progress": progress.get(i.id, (0, None))} for i, n in rows]
    return {"items": items, "filters": f, "more": more, "now": now, "statuses": STATUSES,
            "severities": SEVERITIES, "change": tx.latest_change()}


def _steps(events: list[Any]) -> list[dict[str, Any]]:
    """Playbook steps in order of starting: name, action, rendered params, outcome and message, approvals."""
    steps: dict[str, dict[str, Any]] = {}
    for e in events:
        name = str(e.data.get("step", ""))
        if not name:
            continue
        st = steps.setdefault(name, {"name": name, "action": e.data.get("action", ""), "params": None,
                                     "outcome": "waiting", "message": "", "approvals": []})
        if e.kind in ("step.started", "approval.requested"):
            st["params"] = e.data.get("params", st["params"])
            st["action"] = e.data.get("action", st["action"]) or st["action"]
            if e.kind == "approval.requested":
                st["outcome"], st["message"] = "waiting for approval", e.message
            else:
                st["outcome"] = "running"
        elif e.kind in FINAL_STEP_KINDS or e.kind in ("step.interrupted", "step.precondition"):
            st["outcome"], st["message"] = e.kind.split(".", 1)[1], e.message
        elif e.kind in ("approval.approved", "approval.rejected", "approval.timeout"):
            st["approvals"].append({"by": e.data.get("by", ""), "via": e.data.get("via", ""), "kind": e.kind,
                                    "at": e.at})
    for st in steps.values():
        st["params_text"] = json.dumps(st["params"], indent=2, sort_keys=True, ensure_ascii=False) \
            if st["params"] is not None else ""
    return list(steps.values())


def incident(tx: Any, incident_id: str, after: str, timeline_page: int) -> dict[str, Any] | None:
    """The incident page, or ``None`` when there is no such incident."""
    inc = tx.incident_head(incident_id)
    if inc is None:
        return None
    alerts = tx.alerts_page(incident_id, ALERTS_PER_PAGE + 1, after)
    timeline = tx.timeline_page(incident_id, TIMELINE_PER_PAGE + 1, timeline_page * TIMELINE_PER_PAGE)
    playbook = list(reversed(tx.timeline_page(incident_id, EVENTS_CAP, kinds=("step.", "approval.", "playbook."))))
    pages = list(reversed(tx.timeline_page(incident_id, EVENTS_CAP, kinds=("notify.",))))
    waiting = [{"index": j.payload["index"], "name": stored_field(j.payload, "name"),
                "action": stored_field(j.payload, "action"),
                "deadline": float((j.payload.get("approval_wait") or {}).get("deadline") or 0)}
               for j in tx.jobs_of(incident_id)
               if j.kind == "step" and j.state == "pending" and j.payload.get("approval_wait")]
    steps = _steps(playbook)
    actions = {w["name"]: w["action"] for w in waiting}
    for st in steps:
        st["action"] = st["action"] or actions.get(st["name"], "")
    return {"incident": inc, "alerts": alerts[:ALERTS_PER_PAGE], "alerts_more": len(alerts) > ALERTS_PER_PAGE,
            "after": after, "alert_total": tx.alert_count(incident_id),
            "timeline": timeline[:TIMELINE_PER_PAGE], "timeline_more": len(timeline) > TIMELINE_PER_PAGE,
            "timeline_page": timeline_page, "steps": steps, "waiting": waiting, "pages": pages}


def automation(tx: Any, budget: Any, rules: Any, now: float) -> dict[str, Any]:
    """The automation page: pause state, destructive budget used and left, shadow rules."""
    used = tx.count_actions(now - budget.per, destructive=True) if budget is not None else 0
    shadow = [r for r in rules.rules if getattr(r, "mode", "active") == "shadow"]
    return {"state": paused(tx), "budget": budget, "used": used,
            "left": max(0, budget.max - used) if budget is not None else None, "shadow": shadow}


def audit(tx: Any, page: int) -> dict[str, Any]:
    """The audit page: one page newest first, and whether the whole chain verifies."""
    rows = tx.audit_page(AUDIT_PER_PAGE + 1, page * AUDIT_PER_PAGE)
    broken, checked = audit_rows.first_broken(audit_rows.export_rows(tx._x))
    return {"records": rows[:AUDIT_PER_PAGE], "more": len(rows) > AUDIT_PER_PAGE, "page": page,
            "broken": broken, "checked": checked}
