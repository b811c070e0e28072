"""The human-readable form of a plan, rendered from its JSON form only.

Rendering from the JSON (never from the objects behind it) guarantees that ``simulate --format json``
carries everything the text shows: the text of a plan and of ``json.loads(json.dumps(plan))`` are equal.
"""

from __future__ import annotations

import json
from typing import Any

from receiver.simulate.plan import UPDATES_SHOWN


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in labels.items()) + "}"


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _when(w: dict[str, Any]) -> str:
    return f"+{w['offset']} ({w['at']})"


def render_text(plan: dict[str, Any]) -> str:
    """The plan as text: each alert's decision, then per incident its rule, severity, identity, playbook
    steps with rendered parameters, escalation policy, notifications by time, those not sent, and
    what resolving does. Status updates are shown up to ``UPDATES_SHOWN`` per incident."""
    files = ", ".join(plan["rule_files"]) or "no rule files"
    until = plan["until"]
    out = [f"Plan from {plan['start']} until +{until['offset']} ({until['at']})",
           f"Rules version {plan['rules_version']} ({files})"]
    if plan.get("calendar"):
        out.append(f"Market calendar: {plan['calendar']} (exchange-calendars; market_hours, when: market_open)")
    if plan["ack_at"] is not None:
        out.append(f"Acknowledged at {_when(plan['ack_at'])}")
    for a in plan["alerts"]:
        out += ["", f"Alert {a['fingerprint']} {_labels(a['labels'])}"]
        states = []
        if a["fire_at"] is not None:
            states.append(f"firing at {_when(a['fire_at'])}")
        if a["resolve_at"] is not None:
            states.append(f"resolved at {_when(a['resolve_at'])}")
        out.append("  " + "; ".join(states))
        if a.get("heartbeat"):
            out.append("  heartbeat of the dead man's switch: recorded, opens no incident")
            continue
        joined = ", ".join(a["incidents"]) or "none"
        out.append(f"  rules: {', '.join(a['rules'])} -> incident(s): {joined}")
    for inc in plan["incidents"]:
        out += ["", *_incident(inc)]
    if not plan["incidents"]:
        out += ["", "No incident: nothing is run and nobody is notified."]
    return "\n".join(out) + "\n"


def _incident(inc: dict[str, Any]) -> list[str]:
    out = [f"Incident {inc['number']} ({inc['id']}): {inc['title']}"]
    where = f" ({inc['source']})" if inc["source"] else " (built-in: no rule matched)"
    out.append(f"  rule:       {inc['rule']}{where}")
    out.append(f"  severity:   {inc['severity']}")
    if inc.get("severity_reason"):
        out.append(f"  decided by: {inc['severity_reason']}")
    if inc.get("mode", "active") != "active":
        out.append(f"  mode:       {inc['mode']} (everything is recorded, nothing is executed or sent)")
    out.append(f"  identity:   {_labels(inc['identity'])}")
    out.append(f"  opened:     {_when(inc['opened'])}")
    for r in inc["reopened"]:
        out.append(f"  reopened:   {_when(r)} (pages again; the playbook is not re-run)")
    if inc["acknowledged"] is not None:
        out.append(f"  acknowledged: {_when(inc['acknowledged'])} (paging stops; updates go on until resolved)")
    if inc["resolved"] is not None:
        out.append(f"  resolved:   {_when(inc['resolved'])}")
    out.append(f"  status at the end of the plan: {inc['status']}")
    out += _playbook(inc["playbook"])
    out += _escalation(inc["escalation"], inc["severity"])
    out += _notifications(inc)
    receivers = ", ".join(inc["on_resolve"]["notify"]) or "nobody (no receiver paged yet)"
    verb = "notified" if inc["resolved"] is not None else "would notify"
    out.append(f"  on resolve: {verb} {receivers}; pending pages and updates are cancelled; "
               "actions already taken stay done")
    return out


def _playbook(pb: dict[str, Any] | None) -> list[str]:
    if pb is None:
        return ["  playbook:   none"]
    out = [f"  playbook:   {pb['name']}" + (f" - {pb['description']}" if pb["description"] else "")]
    for s in pb["steps"]:
        phase = "on resolve: " if s.get("phase", "main") != "main" else ""
        timeout = f", timeout {s['timeout']:g}s" if isinstance(s["timeout"], int | float) else ""
        shadow = " (shadow: recorded, not executed)" if s.get("shadow") else ""
        out.append(f"    {phase}{s['index'] + 1}. {s['name']} ({s['action']}{timeout}) at +{s['offset']}{shadow}")
        for key, value in s.get("options", {}).items():
            if key not in ("if", "until", "verify", "verify_interval", "verify_timeout"):
                out.append(f"         [{key}] {_value(value)}")
        if s.get("branch"):
            b = s["branch"]
            taken = {True: "runs", False: "skipped", None: "?"}[b["taken"]]
            out.append(f"         [if] {b['if']} -> {taken} ({b['because']})")
        if s.get("verify"):
            v = s["verify"]
            out.append(f"         [until] {v['condition']} (checked every {v['interval']} for up to "
                       f"{v['timeout']}; repeats: {v['read']}; then on_failure)")
        if s.get("wait"):
            out.append(f"         [wait] {s['wait']} (a durable timer)")
        if s.get("error"):
            out.append(f"         ERROR: {s['error']}")
        for key, value in (s["params"] or {}).items():
            if value not in (None, {}, []):  # unset optional parameters; the JSON form has them all
                out.append(f"         {key}: {_value(value)}")
        if s.get("finished"):
            out.append(f"         -> {s['outcome']} at +{s['finished']['offset']}")
    return out


def _escalation(esc: dict[str, Any] | None, severity: str) -> list[str]:
    if esc is None:
        return [f"  escalation: none (no escalation policy for {severity}: nobody is notified)"]
    out = [f"  escalation: policy {esc['severity']}"]
    for i, s in enumerate(esc["steps"], 1):
        out.append(f"    step {i} after {s['after']}: {', '.join(s['notify'])} (unless acknowledged)")
    if esc["updates"] is not None:
        u = esc["updates"]
        out.append(f"    updates every {u['every']}: {', '.join(u['notify'])} (until resolved)")
    return out


def _notifications(inc: dict[str, Any]) -> list[str]:
    out = ["  notifications:"]
    esc = inc["escalation"]
    limit = UPDATES_SHOWN * (len(esc["updates"]["notify"]) if esc and esc["updates"] else 1)
    updates = hidden = 0
    rows = [(n, None) for n in inc["notifications"]] + [(n, n["reason"]) for n in inc["suppressed"]]
    for n, reason in sorted(rows, key=lambda r: r[0]["seconds"]):
        if n["kind"] == "update" and reason is None:
            updates += 1
            if updates > limit:
                hidden += 1
                continue
        head = f"    +{n['offset']:<7} {n['at']}  {n['kind']:<8} {n['receiver']}"
        if reason is not None:
            out.append(f"{head}: not sent, incident {reason}")
        else:
            shadow = " - shadow: recorded, not sent" if n.get("shadow") else ""
            out.append(head + (f" ({n['channel']})" if n["channel"] else " (unknown receiver)") + shadow)
    if hidden:
        out.append(f"    ... and {hidden} more status update(s) until the end of the plan")
    if not rows:
        out.append("    none")
    return out
