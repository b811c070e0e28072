"""Deliver notification rows (page, update, refresh, resolve, ack) through the notifiers.

A page is marked as being sent (the row is ``running`` under a lease) before the provider call. A
row taken over after a crash, or retried after an attempt whose outcome is unknown (a time-out, a
dropped connection), is re-sent with ``Message.resend`` set: PagerDuty deduplicates by
``dedup_key``; Slack first looks for the page by its key in the channel's history, so no page is
posted twice. Failures follow ``receiver.escalation.retry``: retryable ones are retried with capped,
jittered backoff (honouring ``Retry-After``) until delivered, acknowledged, resolved or past the
severity's deadline; a page past its deadline, or failed for good, pages the next escalation step at
once. Every failure goes on the timeline and into ``runbookd_notifications_total`` (``outcome``
``retry``, ``failed``, ``escalated``).

A notification reads a bounded part of its incident, whatever the incident's size (docs/performance.md,
"Paging cost"): the incident's row, its first ``PAGE_ALERTS`` alerts, its last ``PAGE_STEPS``
playbook-step events and its page rows. Only the post-mortem link reads every notification row.
A channel's rate limit (``Notifier.rate_limit``, e.g. Slack's one message per second per channel)
is a slot reserved in the store: a message held back by it is its row due at the slot, never a
sleep holding a worker (``outcome`` ``delayed``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog

from receiver.clock import iso
from receiver.durations import format_duration
from receiver.errors import DeliveryError
from receiver.escalation.context import digest_context
from receiver.escalation.messages import RATE_SLOT, STEP_KINDS, build_message, page_in_flight
from receiver.escalation.planner import next_update_due, paged_receivers, plan_update
from receiver.escalation.retry import FIRST_ATTEMPT, UNSURE, backoff, next_step_rows, plan_retry
from receiver.escalation.targets import response_targets
from receiver.jobkinds import spec
from receiver.metrics import Metrics
from receiver.model import Job, TimelineEvent
from receiver.notify import channel_traits, heartbeat_route
from receiver.notify.base import Message, Notifier
from receiver.rules import RuleSet
from receiver.settings import HeartbeatConfig, RetryPolicy
from receiver.store.base import Store

MAX_ATTEMPTS = 5
FOLLOW_UP_WAIT = 1.0
#: How many of an incident's alerts a notification reads (it shows the first one's annotations).
PAGE_ALERTS = 10
#: How many finished playbook steps a notification lists (earlier ones are summed up as "and N more").
PAGE_STEPS = 50
log = structlog.get_logger("runbookd.escalation")


class Sender:
    """Executes notification rows against the configured notifiers."""

    def __init__(self, store: Store, notifiers: Mapping[str, Notifier], rules: Callable[[], RuleSet],
                 metrics: Metrics, clock: Any, *, dry_run: bool, external_url: str,
                 heartbeat: HeartbeatConfig | None = None, templates: Any = None,
                 retry: RetryPolicy | None = None, mute: Any = None) -> None:
        #: Holds back pages during maintenance (receiver.maintenance.mute.Mute), or ``None``.
        self.mute = mute
        self.heartbeat = heartbeat or HeartbeatConfig()
        self.retry = retry or RetryPolicy()
        self.templates = templates
        self.store = store
        self.notifiers = notifiers
        self.rules = rules
        self.metrics = metrics
        self.clock = clock
        self.dry_run = dry_run
        self.external_url = external_url

    def enqueue_refresh(self, tx: Any, incident_id: str, now: float) -> int:
        """Enqueue an edit of every page of the incident on a channel that edits in place (playbook finished)."""
        rules = self.rules()
        n = 0
        jobs = tx.jobs_of_kinds(incident_id, ("page", "notice"))
        for r in paged_receivers(jobs) + [
            j.payload.get("receiver") for j in jobs
            if j.kind == "page" and j.state == "pending" and j.due_at <= now
        ]:
            rcv = rules.receivers.get(r) if isinstance(r, str) else None
            if rcv is not None and channel_traits(rcv.kind, self.notifiers).edits_in_place:
                n += tx.enqueue(f"refresh:{incident_id}:playbook:{r}", "refresh", incident_id,
                                {"receiver": r}, now, now)
        return n

    async def run(self, job: Job) -> None:
        """Deliver the notification of ``job`` (claimed, ``running``) and commit the outcome."""
        if job.kind == "digest":
            await self._digest(job)
            return
        if job.kind in ("deadman", "deadman_resolve"):
            await self._deadman(job)
            return
        kinds = ("page", "notice") if job.kind == "postmortem" else ("page",)

        def load(tx: Any) -> tuple[Any, list[TimelineEvent], int, list[Job]]:
            # Bounded whatever the incident's size (schema version 13's indexes).
            inc = tx.incident_head(job.incident_id, alerts=PAGE_ALERTS)
            steps, total = tx.events_of_kinds(job.incident_id, STEP_KINDS, PAGE_STEPS)
            return inc, steps, total - len(steps), tx.jobs_of_kinds(job.incident_id, kinds)

        incident, timeline, left_out, jobs = await self.store.read(load)
        now = self.clock.now()
        name = job.payload.get("receiver")
        if job.kind == "update":
            await self._updates(job, incident, timeline, jobs, left_out)
            return
        if job.kind == "postmortem":
            await self._postmortem(job, incident, timeline, jobs, left_out)
            return
        if incident is None:
            await self._done(job, "failed", [], {"error": "incident not found"})
            return
        if job.kind == "page" and incident.status != "firing":
            await self._done(job, "cancelled", [TimelineEvent(
                now, "notify.cancelled", f"page to {name} not sent: incident {incident.status}",
                {"receiver": name})], {})
            return
        if job.kind == "page" and self.mute is not None and await self.mute.hold(job, incident):
            return  # a maintenance window or mute time interval: the row waits for its end
        await self._deliver(job, name, incident, timeline, jobs, steps_left_out=left_out)

    async def _updates(self, job: Job, incident: Any, timeline: Any, jobs: list[Job], left_out: int = 0) -> None:
        """A status update row: send to the policy's update receivers, then schedule the next one."""
        now = self.clock.now()
        if incident is None or incident.status == "resolved":
            await self._done(job, "cancelled", [], {})
            return
        policy = self.rules().escalation_policies.get(incident.severity)
        if policy is None or policy.updates is None:
            await self._done(job, "cancelled", [], {"reason": "no updates in policy"})
            return
        for r in policy.updates.notify:
            await self._deliver(job, r, incident, timeline, jobs, finish=False, steps_left_out=left_out)
        nxt = plan_update(incident.id, job.payload.get("epoch", 0), job.payload.get("n", 1) + 1,
                          next_update_due(job.due_at, policy.updates.every, now))

        def commit(tx: Any) -> None:
            tx.finish_job(job.id, "done", now, {})
            tx.enqueue(nxt.key, nxt.kind, incident.id, nxt.payload, nxt.due_at, now)

        await self.store.transaction(commit)

    async def _deliver(self, job: Job, name: Any, incident: Any, timeline: Any, jobs: list[Job],
                       finish: bool = True, steps_left_out: int = 0) -> None:
        now = self.clock.now()
        rcv = self.rules().receivers.get(name) if isinstance(name, str) else None
        if rcv is None:
            await self._done(job, "failed", [TimelineEvent(now, "notify.failed", f"unknown receiver {name!r}",
                                                            {"receiver": name})], {}, finish)
            return
        notifier = self.notifiers.get(rcv.kind)
        target = rcv.target
        ref = await self.store.read(lambda tx: tx.page_ref(incident.id, rcv.name))
        kind: Any = job.kind
        threaded = channel_traits(rcv.kind, self.notifiers).replies_in_thread
        if kind == "page" and ref is not None and threaded:
            # A later escalation step, or a reopened incident, on a receiver already paged: reply in the
            # page's thread (one page per incident per channel). A channel without threads (PagerDuty) is
            # triggered again: it deduplicates on the incident's dedup_key while open.
            kind = "update"
        if kind == "notice":  # a new alert joined an acknowledged incident: page again
            kind = "update" if threaded else "page"
        if kind == "postmortem":
            kind = "update"
        follow_up = spec(job.kind).follow_up
        if follow_up and ref is None and page_in_flight(jobs, rcv.name, now) and job.attempts < MAX_ATTEMPTS:
            await self._retry(job, now + FOLLOW_UP_WAIT, [], "waiting for the page to be sent")
            return
        text = self._text(job, incident, now)
        msg = build_message(kind, incident, timeline, ref=ref, dry_run=self.dry_run,
                            external_url=self.external_url, text=text, steps_left_out=steps_left_out)
        # A crash or an unanswered attempt may have sent it already: the channel checks before re-sending.
        msg = replace(msg, idempotency_key=job.key, resend=job.takeover or bool(job.payload.get(UNSURE)))
        if job.kind == "approval":
            msg = replace(msg, approval=dict(job.payload))
        bound = log.bind(incident=incident.id, receiver=rcv.name, kind=kind)
        if job.payload.get("mode") == "shadow" or getattr(incident, "mode", "active") == "shadow":
            await self._done(job, "done", [TimelineEvent(
                now, "notify.shadow", f"would send {kind} to {rcv.name} ({rcv.kind}); rule is in shadow mode",
                {"receiver": rcv.name, "kind": kind})], {"shadow": True}, finish)
            self.metrics.notifications.labels(receiver=rcv.name, outcome="shadow").inc()
            return
        if notifier is None:
            await self._done(job, "done", [TimelineEvent(
                now, "notify.skipped", f"{kind} to {rcv.name} skipped: {rcv.kind} is not available",
                {"receiver": rcv.name, "kind": kind})], {"skipped": True}, finish)
            self.metrics.notifications.labels(receiver=rcv.name, outcome="skipped").inc()
            return
        if await self._rate_limited(job, notifier, target, msg, rcv.name, finish):
            return
        try:
            d = await notifier.send(target, msg)
        except DeliveryError as e:
            bound.warning("notification failed", reason=e.reason, retryable=e.retryable)
            await self._failed(job, rcv.name, str(kind), incident, jobs, now, e, finish)
            return
        skipped = d.data.get("skipped")
        outcome = "skipped" if skipped else "ok"
        self.metrics.notifications.labels(receiver=rcv.name, outcome=outcome).inc()
        bound.info("notification sent", outcome=outcome, ref=d.ref)
        said = (str(skipped) if skipped else
                f"already sent by an attempt whose answer was lost (found by its key), ref {d.ref}"
                if d.data.get("found") else f"sent, ref {d.ref}")
        ev = TimelineEvent(now, f"notify.{outcome}", f"{kind} to {rcv.name} ({rcv.kind}): {said}",
                           {"receiver": rcv.name, "channel": rcv.kind, "kind": kind, "ref": d.ref, **d.data})
        page_ref = d.ref if kind == "page" and d.ref else None
        await self._done(job, "done", [ev], {"ref": d.ref, "outcome": outcome}, finish,
                         page=(rcv.name, page_ref) if page_ref else None)

    async def _failed(self, job: Job, receiver: str, kind: str, incident: Any, jobs: list[Job], start: float,
                      e: DeliveryError, finish: bool) -> None:
        """Record a failed attempt; retry it (a pending row due later) or give up and escalate.

        The delay counts from the attempt's end (the clock read now, after the vendor answered or
        timed out). A row that fans out to several receivers (``finish`` false) only records it.
        """
        end = self.clock.now()
        first = float(job.payload.get(FIRST_ATTEMPT, start))
        data: dict[str, Any] = {"receiver": receiver, "kind": kind, "attempt": job.attempts,
                                "retryable": e.retryable, "error": e.reason}
        if e.retry_after is not None:
            data["retry_after"] = e.retry_after
        if not finish:
            self.metrics.notifications.labels(receiver=receiver, outcome="failed").inc()
            await self._done(job, "failed", [TimelineEvent(end, "notify.failed", f"{kind} to {receiver} failed: "
                                                           f"{e.reason}", data)], {}, finish=False)
            return
        plan = plan_retry(self.retry, incident.severity, first, end, job.attempts, e.retry_after)
        later = next_step_rows(jobs, job) if job.kind == "page" else []
        if e.retryable and (plan.due is not None or (job.kind == "page" and not later)):
            # With no later step to hand the page to, it keeps being retried past its deadline.
            due = plan.due if plan.due is not None else end + max(self.retry.max, e.retry_after or 0.0)
            payload = {**job.payload, FIRST_ATTEMPT: first, UNSURE: bool(job.payload.get(UNSURE) or e.unknown)}
            payload.pop(RATE_SLOT, None)  # the retry takes a new slot of the channel's rate limit
            note = "" if plan.due is not None else " (past its deadline, but no later escalation step is left)"
            self.metrics.notifications.labels(receiver=receiver, outcome="retry").inc()
            await self._retry(job, due, [TimelineEvent(
                end, "notify.retry", f"{kind} to {receiver} failed, will retry at {iso(due)}{note}: {e.reason}",
                {**data, "due_at": due, "deadline": plan.deadline})], e.reason, payload)
            return
        why = (f"past its deadline of {format_duration(self.retry.deadline(incident.severity))}"
               if e.retryable else "not retryable")
        events = [TimelineEvent(end, "notify.failed", f"{kind} to {receiver} failed ({why}): {e.reason}",
                                {**data, "deadline": plan.deadline})]
        self.metrics.notifications.labels(receiver=receiver, outcome="failed").inc()
        if later:
            names = sorted({str(j.payload.get("receiver")) for j in later})
            step = int(later[0].payload.get("step", 0))
            events.append(TimelineEvent(end, "notify.escalated", f"{kind} to {receiver} failed ({why}): "
                                        f"escalating to step {step + 1} ({', '.join(names)}) now",
                                        {"receiver": receiver, "step": step, "receivers": names}))
            self.metrics.notifications.labels(receiver=receiver, outcome="escalated").inc()
        elif job.kind == "page":
            events.append(TimelineEvent(end, "notify.escalated", f"{kind} to {receiver} failed ({why}) and no "
                                        "later escalation step is left to page", {"receiver": receiver, "step": None}))

        def commit(tx: Any) -> None:
            for ev in events:
                tx.add_event(job.incident_id, ev)
            for j in later:
                tx.make_due(j.key, end)
            tx.finish_job(job.id, "failed", end, {"error": e.reason})

        await self.store.transaction(commit)

    def _text(self, job: Job, incident: Any, now: float) -> str | None:
        """The free text of a thread reply (updates, escalations, notices, the post-mortem link)."""
        if job.payload.get("text"):
            return str(job.payload["text"])
        if job.kind == "approval":
            p = job.payload
            return (f"APPROVAL NEEDED: step '{p.get('step')}' ({p.get('action')}) of {incident.title}; "
                    f"without an answer: {p.get('on_timeout')}")
        if job.kind == "update":
            return (f"Status update: {incident.title} is {incident.status.upper()}, open for "
                    f"{format_duration(now - incident.started_at)}"
                    + (f", acknowledged by {incident.acknowledged_by}" if incident.acknowledged_by else ""))
        if job.kind == "page" and job.payload.get("step", 0) == 0 and job.payload.get("epoch", 0) > 0:
            return f"REOPENED: {incident.title} fired again after it had resolved"
        if job.kind == "page":
            return f"Escalation step {job.payload.get('step', 0) + 1}: {incident.title} is still unacknowledged"
        if job.kind == "notice":
            return (f"New alert {job.payload.get('fingerprint')} joined this acknowledged incident: "
                    f"{incident.title}")
        if job.kind == "postmortem":
            return (f"Post-mortem draft for {incident.title}: "
                    f"{self.external_url.rstrip('/')}/incidents/{incident.id}/postmortem")
        return None

    async def _postmortem(self, job: Job, incident: Any, timeline: Any, jobs: list[Job], left_out: int = 0) -> None:
        """Post the post-mortem draft's link in the thread of every page of the incident on a chat channel."""
        now = self.clock.now()
        if incident is None:
            await self._done(job, "failed", [], {"error": "incident not found"})
            return
        rules = self.rules()
        for r in paged_receivers(jobs):
            rcv = rules.receivers.get(r)
            if rcv is not None and channel_traits(rcv.kind, self.notifiers).chat:
                await self._deliver(job, r, incident, timeline, jobs, finish=False, steps_left_out=left_out)
        await self.store.transaction(lambda tx: tx.finish_job(job.id, "done", now, {}))

    async def _digest(self, job: Job) -> None:
        """Send one digest of the incidents of a severity that started in the past day."""
        p = job.payload
        sev, since, until = p["severity"], float(p["since"]), float(p["until"])
        last_key = f"digest.last_until.{sev}"
        last = await self.store.read(lambda tx: tx.get_state(last_key))
        if last is not None and float(last) < since:
            since = float(last)  # a late process covers the days it missed in this one digest
        incidents = await self.store.read(lambda tx: tx.incidents_started_between(sev, since, until))
        policy = self.rules().escalation_policies.get(sev)
        now = self.clock.now()
        if self.templates is not None:
            text = self.templates.render("digest.txt.j2", **digest_context(
                incidents, since=since, until=until, now=now, external_url=self.external_url,
                targets=response_targets(self.rules())))
        else:
            text = "\n".join(f"- [{i.status.upper()}] {i.title} (rule {i.rule}) started {iso(i.started_at)}"
                              for i in incidents) or "No incidents."
        text = f"Daily digest: {len(incidents)} {sev} incident(s) from {iso(since)} to {iso(until)}\n\n{text}"
        msg = Message(kind="update", incident_id="", dedup_key=f"runbookd-digest-{sev}-{int(until)}", severity=sev,
                      status="digest", title=f"Daily digest: {len(incidents)} {sev} incident(s)",
                      text=text, started_at=since, dry_run=self.dry_run)
        for r in (policy.digest.notify if policy and policy.digest else []):
            await self._send_plain(r, msg)
        def done(tx: Any) -> None:
            tx.finish_job(job.id, "done", now, {"incidents": len(incidents)})
            tx.set_state(last_key, repr(until))

        await self.store.transaction(done)

    async def _deadman(self, job: Job) -> None:
        """Page PagerDuty directly that the alerting pipeline is broken (or resolve that page)."""
        last = float(job.payload.get("last_seen", 0.0))
        name = self.heartbeat.alertname
        title = (f"Alerting pipeline broken: no {name} heartbeat since {iso(last)}"
                 if job.kind == "deadman" else f"Alerting pipeline restored: {name} heartbeat is back")
        msg = Message(kind="page" if job.kind == "deadman" else "resolve", incident_id="deadman",
                      dedup_key=f"runbookd-deadman-{int(last)}", severity="P0", status="firing", title=title,
                      summary=f"runbookd has not received the {name} alert from Alertmanager for longer than "
                              f"{format_duration(self.heartbeat.timeout)}: alerts may not be reaching anyone.",
                      labels={"alertname": f"{name}Missing"}, started_at=last, dry_run=self.dry_run)
        notifier, target = heartbeat_route(self.notifiers, self.heartbeat.routing_key)
        now = self.clock.now()
        try:
            if notifier is None:
                raise DeliveryError("the dead man's switch notifier is not available", retryable=False)
            d = await notifier.send(target, msg)
        except DeliveryError as e:
            reason, retryable = e.reason, e.retryable
            if retryable:  # no incident, no later step to escalate to: retried until it gets through
                end = self.clock.now()
                due = end + backoff(self.retry, job.attempts, e.retry_after)
                log.warning("dead man's switch page failed; will retry", error=reason, due=iso(due))
                self.metrics.notifications.labels(receiver="deadman", outcome="retry").inc()
                await self.store.transaction(lambda tx: tx.retry_job(job.id, due, end, {"error": reason}))
                return
            log.error("dead man's switch page failed", error=reason)
            self.metrics.notifications.labels(receiver="deadman", outcome="failed").inc()
            await self.store.transaction(lambda tx: tx.finish_job(job.id, "failed", now, {"error": reason}))
            return
        outcome = "skipped" if d.data.get("skipped") else "ok"
        log.warning(title, outcome=outcome, dedup_key=msg.dedup_key)
        self.metrics.notifications.labels(receiver="deadman", outcome=outcome).inc()
        await self.store.transaction(lambda tx: tx.finish_job(job.id, "done", now, {"ref": d.ref, **d.data}))

    async def _send_plain(self, name: str, msg: Message) -> None:
        """Send a message that belongs to no incident to receiver ``name``; failures are logged and counted."""
        rcv = self.rules().receivers.get(name)
        notifier = self.notifiers.get(rcv.kind) if rcv else None
        if rcv is None or notifier is None:
            log.warning("digest receiver not available", receiver=name)
            return
        try:
            d = await notifier.send(rcv.target, msg)
            outcome = "skipped" if d.data.get("skipped") else "ok"
        except DeliveryError as e:
            log.warning("digest delivery failed", receiver=name, error=e.reason)
            outcome = "failed"
        self.metrics.notifications.labels(receiver=name, outcome=outcome).inc()

    async def _rate_limited(self, job: Job, notifier: Notifier, target: Any, msg: Message, receiver: str,
                            finish: bool) -> bool:
        """Whether the channel's rate limit holds ``msg`` back; then it is a row due at the slot reserved.

        ``notifier.rate_limit(target, msg)`` (optional) names the limit, ``(key, interval seconds,
        burst)``, or ``None`` when the message is not limited. The slot is reserved in the store
        (``Tx.reserve_slot``, shared by every replica); a row that already holds a slot sends within
        it. A held-back row is put back ``pending`` until its slot (the attempt is not counted); a
        fan-out row (an update to several receivers) instead leaves a ``notice`` row of this
        receiver with the same text, due at the slot.
        """
        rule = getattr(notifier, "rate_limit", None)
        limit = rule(target, msg) if rule is not None else None
        if limit is None:
            return False
        key, interval, burst = limit
        now = self.clock.now()
        held = job.payload.get(RATE_SLOT) if finish else None
        if isinstance(held, int | float) and not isinstance(held, bool) and held - 1e-3 <= now < held + interval:
            return False

        def reserve(tx: Any) -> float:
            start = float(tx.reserve_slot(key, now, interval, burst))
            if start <= now + 1e-3:
                return start
            if finish:
                tx.reschedule(job.id, start, now, {**job.payload, RATE_SLOT: start})
            else:
                tx.enqueue(f"{job.key}:{receiver}", "notice", job.incident_id,
                           {"receiver": receiver, "text": msg.text or "", RATE_SLOT: start}, start, now)
            return start

        start = await self.store.transaction(reserve)
        if start <= now + 1e-3:
            return False
        self.metrics.notifications.labels(receiver=receiver, outcome="delayed").inc()
        log.info("notification held back by the channel's rate limit", incident=job.incident_id,
                 receiver=receiver, kind=msg.kind, due=iso(start))
        return True

    async def _retry(self, job: Job, due: float, events: list[TimelineEvent], reason: str,
                     payload: dict[str, Any] | None = None) -> None:
        now = self.clock.now()

        def commit(tx: Any) -> None:
            for ev in events:
                tx.add_event(job.incident_id, ev)
            tx.retry_job(job.id, due, now, {"error": reason}, payload)

        await self.store.transaction(commit)

    async def _done(self, job: Job, state: str, events: list[TimelineEvent], result: dict[str, Any],
                    finish: bool = True, page: tuple[str, str] | None = None) -> None:
        now = self.clock.now()

        def commit(tx: Any) -> None:
            for ev in events:
                tx.add_event(job.incident_id, ev)
            if page is not None:
                tx.set_page_ref(job.incident_id, page[0], page[1])
            if finish:
                tx.finish_job(job.id, state, now, result)

        await self.store.transaction(commit)
