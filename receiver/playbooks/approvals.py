"""Approval gates: a step waits for a person's answer (Slack buttons or the API), then its default.

The request is posted to the step's ``approval.notify`` receivers (default: the incident's paged
Slack receivers) with the rendered parameters, and the step row sleeps in the store until the
deadline. An answer is checked against ``approvers`` and put on the timeline. With ``required: N``
(the two-person rule: 2) approvals are counted under ``approval:<incident>:<phase>:<index>:votes``
until N distinct people approved (the same person twice is a 409; the person who triggered a manual
run, ``triggered_by`` in the row, is refused); a single rejection decides. The decision is stored once
(state key ``approval:<incident>:<phase>:<index>``; later answers are refused) and wakes the row. At the deadline
without an answer the declared ``on_timeout`` applies — ``approve`` for protective actions,
``reject`` for risky ones — and that too is on the timeline.
"""

from __future__ import annotations

import json
from typing import Any

from receiver.durations import format_duration
from receiver.escalation.planner import paged_receivers
from receiver.model import Change, Incident, Job, TimelineEvent
from receiver.notify import channel_traits
from receiver.playbooks.gates import Refusal
from receiver.playbooks.steps import current, stored_field
from receiver.rules.model import StepModel

WAITING = object()
"""Returned by ``gate`` while the step waits for an answer."""


def state_key(incident_id: str, phase: str, index: int) -> str:
    """The state key holding the answer to one step's approval request."""
    return f"approval:{incident_id}:{phase}:{index}"


def _chat_receivers(rules: Any, names: list[str]) -> list[str]:
    """The receivers of ``names`` on a chat channel (``ChannelTraits.chat``: approvals have buttons there)."""
    out = []
    for r in names:
        rcv = rules.receivers.get(r) if rules is not None else None
        if rcv is not None and channel_traits(rcv.kind).chat and r not in out:
            out.append(r)
    return out


async def gate(runner: Any, job: Job, incident: Incident, step: StepModel, shown: dict[str, Any],
               events: list[TimelineEvent], now: float) -> Any:
    """Decide a step with ``approval``: ``None`` (approved, run it), a ``Refusal``, or ``WAITING``."""
    p = job.payload
    phase, index, name = p.get("phase", "main"), p["index"], step.name
    appr = step.approval
    assert appr is not None, "gate is for steps with an approval"
    key = state_key(incident.id, phase, index)
    answer_raw = await runner.store.read(lambda tx: tx.get_state(key))
    answer = json.loads(answer_raw) if answer_raw else None
    waiting = p.get("approval_wait")
    if answer is None and waiting is None:
        deadline = now + appr.timeout
        rules = runner.rules()

        def request(tx: Any) -> None:
            targets = _chat_receivers(rules, list(appr.notify)) or _chat_receivers(
                rules, paged_receivers(tx.jobs_of(incident.id)) + _policy_receivers(rules, incident.severity))
            for r in targets:
                tx.enqueue(f"approval:{incident.id}:{phase}:{index}:{r}", "approval", incident.id,
                           {"receiver": r, "step": name, "action": step.action, "index": index, "phase": phase,
                            "params": shown, "approvers": list(appr.approvers), "deadline": deadline,
                            "on_timeout": appr.on_timeout}, now, now)
            for ev in events:
                tx.add_event(incident.id, ev)
            tx.add_event(incident.id, TimelineEvent(
                now, "approval.requested",
                f"step '{name}' ({step.action}) waits for approval until {format_duration(deadline - now)} "
                f"from now; then: {appr.on_timeout}",
                {"step": name, "receivers": targets, "approvers": list(appr.approvers), "params": shown,
                 "required": appr.required}))
            tx.reschedule(job.id, deadline, now, {**p, "approval_wait": {"deadline": deadline}})

        await runner.store.transaction(request)
        return WAITING
    if answer is None:
        assert waiting is not None
        deadline = float(waiting["deadline"])
        if now < deadline:
            await runner.store.transaction(lambda tx: tx.reschedule(job.id, deadline, now, p))
            return WAITING
        verdict = appr.on_timeout

        def timed_out(tx: Any) -> None:
            tx.set_state(key, json.dumps({"decision": verdict, "by": None, "via": "timeout", "at": now}))

        await runner.store.transaction(timed_out)
        events.append(TimelineEvent(now, "approval.timeout", f"no answer for step '{name}' in time: "
                                    f"{'approved' if verdict == 'approve' else 'rejected'} by default "
                                    f"(on_timeout: {verdict})", {"step": name, "decision": verdict}))
        answer = {"decision": verdict, "by": None, "via": "timeout"}
        if verdict == "reject":
            return Refusal("rejected", "approval timed out: rejected by default (on_timeout: reject)")
        return None
    if answer["decision"] == "reject":
        return Refusal("rejected", f"rejected by {answer.get('by')} via {answer.get('via')}")
    if answer.get("via") == "timeout":
        return None
    return None


def _policy_receivers(rules: Any, severity: str) -> list[str]:
    """Every receiver of the escalation steps of ``severity``'s policy."""
    policy = rules.escalation_policies.get(severity) if rules is not None else None
    return [r for s in (policy.steps if policy else []) for r in s.notify]


def answer(tx: Any, incident_id: str, *, step: str | int, decision: str, by: str, via: str, now: float,
           user_ids: tuple[str, ...] = ()) -> Change:
    """Record a person's answer to a waiting approval (API or Slack) and wake the step.

    ``step`` is the step's name or index. Refused: unknown incident or no waiting approval (404),
    already answered or timed out (409), not an approver (403).
    """
    inc = tx.get_incident(incident_id)
    if inc is None:
        return Change(False, None, f"no incident {incident_id!r}", 404)
    waiting = [j for j in tx.jobs_of(incident_id)
               if j.kind == "step" and j.state == "pending" and j.payload.get("approval_wait")]
    match = [j for j in waiting if step in (j.payload["index"], str(j.payload["index"]),
                                            stored_field(j.payload, "name"))]
    if not match:
        return Change(False, inc, f"no step {step!r} is waiting for approval", 404)
    job = match[0]
    p = job.payload
    st = current(p)
    key = state_key(incident_id, p.get("phase", "main"), p["index"])
    if tx.get_state(key) is not None:
        return Change(False, inc, "this approval was already answered", 409)
    approvers = list(st.approval.approvers) if st.approval is not None else []
    me = {by, *user_ids}
    if approvers and not (me & set(approvers)):
        return _refuse(tx, inc, st.name, by, via, now, f"{by} is not an approver of step '{st.name}'")
    trigger = p.get("triggered_by")
    if trigger and trigger in me:
        return _refuse(tx, inc, st.name, by, via, now,
                       f"{by} triggered this manual run and may not answer its approval")
    required = st.approval.required if st.approval is not None else 1
    votes = json.loads(tx.get_state(key + ":votes") or "[]")
    same = next((v for v in votes if me & set(v["ids"])), None)
    if decision == "approve" and same is not None:
        return Change(False, inc, f"{by} is the same person as {same['by']}, who approved already: step "
                      f"'{st.name}' needs {required} distinct approvers", 409)
    votes.append({"by": by, "via": via, "at": now, "ids": sorted(me)})
    final = decision == "reject" or len(votes) >= required
    verb = "approved" if decision == "approve" else "rejected"
    count = f" ({len(votes)} of {required})" if required > 1 and decision == "approve" else ""
    tx.add_event(incident_id, TimelineEvent(
        now, f"approval.{verb}", f"step '{st.name}' {verb} by {by} via {via}{count}",
        {"step": st.name, "by": by, "via": via, "decision": decision, "approvals": len(votes),
         "required": required}))
    if not final:
        tx.set_state(key + ":votes", json.dumps(votes))
        return Change(True, tx.get_incident(incident_id), f"{required - len(votes)} more approval(s) needed")
    who = ", ".join(v["by"] for v in votes) if decision == "approve" else by
    tx.set_state(key, json.dumps({"decision": decision, "by": who, "via": via, "at": now}))
    tx.make_due(job.key, now)
    return Change(True, tx.get_incident(incident_id))


def _refuse(tx: Any, inc: Incident, step: str, by: str, via: str, now: float, reason: str) -> Change:
    tx.add_event(inc.id, TimelineEvent(now, "approval.refused", f"{by} may not answer the approval of step "
                                       f"'{step}': {reason}", {"by": by, "via": via, "reason": reason}))
    return Change(False, inc, reason, 403)
