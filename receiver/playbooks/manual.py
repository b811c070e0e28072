"""Manual runs: a person starts a declared playbook (``/runbookd run PLAYBOOK [label=value …]``).

The run is a *manual incident* (rule ``manual``, identity ``manual|<id>``) whose one alert carries the
given labels (``alertname="ManualRun"``, ``playbook``), so step templates see ``alert.labels`` as for an
alert. Its severity is that of the first rule using the playbook (else ``P3``), which decides where
approval requests go. Steps go through every gate — pause, preconditions, approvals, limits — and the
person who triggered it (``triggered_by``) may not approve it. Nothing is paged for the run itself.
"""

from __future__ import annotations

import re
from typing import Any

from receiver.model import AlertRecord, Change, Incident, IncidentAlert, TimelineEvent, new_incident_id
from receiver.rules.model import dump_step
from receiver.store.sql import UPSERT_ALERT, alert_row

_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_labels(words: list[str]) -> dict[str, str] | str:
    """``label=value`` words as a dict, or the error text naming the first bad word."""
    out: dict[str, str] = {}
    for w in words:
        name, sep, value = w.partition("=")
        if not sep or not _LABEL.match(name):
            return f"{w!r} is not label=value (label names as in Prometheus: [A-Za-z_][A-Za-z0-9_]*)"
        out[name] = value
    return out


def start(tx: Any, rules: Any, playbook: str, labels: dict[str, str], *, by: str, via: str, now: float) -> Change:
    """Open a manual incident running ``playbook`` in ``tx``; 404 when no such playbook is declared."""
    pb = rules.playbooks.get(playbook) if rules is not None else None
    if pb is None:
        return Change(False, None, f"no playbook {playbook!r} (declared: {', '.join(sorted(rules.playbooks))})", 404)
    severity = next((r.severity for r in rules.rules if r.playbook == playbook), "P3")
    iid = new_incident_id(now)
    labels = {**labels, "alertname": "ManualRun", "playbook": playbook}
    inc = Incident(id=iid, identity=f"manual|{iid}", rule="manual", severity=severity, status="firing",
                   labels=labels, title=f"Manual run of playbook '{playbook}' by {by}", playbook=playbook,
                   rules_version=rules.version, started_at=now, updated_at=now)
    tx.insert_incident(inc)
    starts = f"manual:{iid}"
    rec = AlertRecord(f"manual-{iid}", starts, "firing", labels, {"summary": inc.title}, now)
    tx._x(UPSERT_ALERT, alert_row(rec, now, pending=0))
    tx.upsert_incident_alert(iid, IncidentAlert(rec.fingerprint, starts, "firing", labels, rec.annotations, now))
    tx.add_event(iid, TimelineEvent(now, "incident.opened", f"manual run of playbook '{playbook}' by {by} via {via}",
                                    {"by": by, "via": via, "playbook": playbook, "labels": labels, "manual": True}))
    payload = {
        "playbook": playbook, "index": 0, "phase": "main", "key_prefix": f"step:{iid}",
        "steps": [dump_step(s) for s in pb.steps], "rules_version": rules.version,
        "rule": "manual", "identity": inc.identity, "mode": "active", "rule_rate_limit": None, "cooldown": 0,
        "triggered_by": by,
    }
    tx.enqueue(f"step:{iid}:0", "step", iid, payload, now, now)
    return Change(True, tx.get_incident(iid))
