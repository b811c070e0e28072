"""Alertmanager silences for acknowledged incidents and maintenance windows, as durable ``silence`` rows.

Planning (inside the transaction of the ack, the resolve, the window's creation or end) only enqueues
rows, so an unreachable Alertmanager never blocks or fails an acknowledgement. The dispatcher runs the
rows (``Silences.run``) through ``receiver.alertmanager_api``:

- ``create``: ``POST /api/v2/silences`` with ``createdBy: runbookd`` and a comment linking back to the
  incident or window (``external_url``); the silence id is kept in the store's state
  (``silence.<ref>``). An incident's silence matches its identity labels and lasts
  ``alertmanager.silence_duration`` (default 24h) unless it resolves first; a window's silence has the
  window's matchers and times.
- ``expire``: ``DELETE /api/v2/silence/{id}`` when the incident resolves or the window is ended early.

Failures follow the notification retry policy (``notify.retry``: capped, jittered backoff honouring
``Retry-After``), each on the incident's timeline (``silence.retry`` / ``silence.failed``; a window's in
the audit log). A retry first looks for the silence by its comment, so an attempt whose answer was
lost does not create a second one. Without ``alertmanager.urls`` the rows finish at once, skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import structlog

from receiver.alertmanager_api import AlertmanagerApi, api_matchers, from_matchers
from receiver.clock import iso
from receiver.errors import DeliveryError
from receiver.escalation.retry import backoff
from receiver.maintenance.windows import parse_window_matchers
from receiver.model import Incident, Job, TimelineEvent
from receiver.store.base import Store
from receiver.store.maintenance import WindowRow

KIND = "silence"
CREATED_BY = "runbookd"
#: Attempts an ``expire`` row waits for a ``create`` still in flight before it gives up.
EXPIRE_WAITS = 20
log = structlog.get_logger("runbookd.silences")


def _state_key(ref: str) -> str:
    return f"silence.{ref}"


def plan_ack(tx: Any, inc: Incident, now: float, by: str, rules: Any) -> bool:
    """On acknowledgement: enqueue the incident's silence when its policy says ``silence_on_ack``."""
    policy = rules.escalation_policies.get(inc.severity) if rules is not None else None
    if policy is None or not getattr(policy, "silence_on_ack", False) or inc.mode == "shadow":
        return False
    ref = f"incident.{inc.id}.{inc.epoch}"
    return bool(tx.enqueue(f"silence:{inc.id}:{inc.epoch}:create", KIND, inc.id, {
        "op": "create", "ref": ref, "incident": inc.id, "matchers": api_matchers(inc.labels),
        "starts_at": now, "ends_at": None, "by": by,
        "comment": f"{inc.title}: acknowledged by {by} in runbookd; expires when the incident resolves"}, now, now))


def plan_resolve(tx: Any, inc: Incident, now: float) -> bool:
    """On resolve: expire the incident's silence of this epoch, if one was planned (cancelling a create
    still waiting for a retry)."""
    if not any(j.kind == KIND and j.key == f"silence:{inc.id}:{inc.epoch}:create" for j in tx.jobs_of(inc.id)):
        return False
    tx.cancel_jobs(inc.id, (KIND,), now)
    return bool(tx.enqueue(f"silence:{inc.id}:{inc.epoch}:expire", KIND, inc.id, {
        "op": "expire", "ref": f"incident.{inc.id}.{inc.epoch}", "incident": inc.id,
        "create_key": f"silence:{inc.id}:{inc.epoch}:create"}, now, now))


def plan_window(tx: Any, w: WindowRow, now: float) -> None:
    """On a window's creation: enqueue its silence (the window's matchers, start and end)."""
    tx.enqueue(f"silence:{w.id}:create", KIND, f"maintenance:{w.id}", {
        "op": "create", "ref": f"window.{w.id}", "window": w.id,
        "matchers": from_matchers(parse_window_matchers(w.matchers)), "starts_at": w.starts_at,
        "ends_at": w.ends_at, "by": w.created_by,
        "comment": f"runbookd maintenance window {w.id} by {w.created_by}: {w.reason}"}, now, now)


def plan_window_end(tx: Any, w: WindowRow, now: float) -> None:
    """On a window ended early: expire its silence."""
    tx.cancel_jobs(f"maintenance:{w.id}", (KIND,), now)
    tx.enqueue(f"silence:{w.id}:expire", KIND, f"maintenance:{w.id}", {
        "op": "expire", "ref": f"window.{w.id}", "window": w.id, "create_key": f"silence:{w.id}:create"}, now, now)


def silence_ids(tx: Any, inc: Incident) -> list[str]:
    """Ids of the silences runbookd created for ``inc`` (this epoch) that it has not expired."""
    raw = tx.get_state(_state_key(f"incident.{inc.id}.{inc.epoch}"))
    return [raw] if raw else []


class Silences:
    """Runs ``silence`` rows against Alertmanager (``api`` ``None``: ``alertmanager.urls`` is not set)."""

    def __init__(self, store: Store, api: AlertmanagerApi | None, clock: Any, retry: Any, *, external_url: str,
                 duration: float = 86400.0, rules: Callable[[], Any] | None = None) -> None:
        self.store = store
        self.api = api
        self.clock = clock
        self.retry = retry
        self.external_url = external_url.rstrip("/")
        self.duration = duration
        self.rules = rules

    def _link(self, p: dict[str, Any]) -> str:
        if p.get("incident"):
            return f"{self.external_url}/incidents/{p['incident']}"
        return f"{self.external_url}/api/v1/maintenance/{p.get('window')}"

    async def run(self, job: Job) -> None:
        """Execute the claimed ``silence`` row ``job`` and commit its outcome."""
        p = job.payload
        now = self.clock.now()
        if self.api is None:
            await self._finish(job, "cancelled", None, {"skipped": "alertmanager.urls is not set"})
            return
        try:
            if p["op"] == "create":
                await self._create(job, now)
            else:
                await self._expire(job, now)
        except DeliveryError as e:
            await self._failed(job, e)

    async def _create(self, job: Job, now: float) -> None:
        p = job.payload
        tag = f"[runbookd {job.key}]"
        if p.get("incident"):
            inc = await self.store.read(lambda tx: tx.get_incident(p["incident"]))
            if inc is None or inc.status == "resolved":
                await self._finish(job, "cancelled", None, {"reason": "incident resolved"})
                return
        assert self.api is not None
        found = None
        if job.attempts > 1 or job.takeover:  # an earlier attempt may have created it: look by its comment
            found = next((s for s in await self.api.silences()
                          if tag in str(s.get("comment", "")) and s.get("status", {}).get("state") != "expired"), None)
        ends = p.get("ends_at") or float(p["starts_at"]) + self.duration
        if found is not None:
            sid = str(found["id"])
        else:
            sid = await self.api.create({
                "matchers": p["matchers"], "startsAt": iso(max(float(p["starts_at"]), now - 1)),
                "endsAt": iso(ends), "createdBy": CREATED_BY,
                "comment": f"{p['comment']} {self._link(p)} {tag}"})
        text = f"Alertmanager silence {sid} created until {iso(ends)} ({self._matchers_text(p)})"
        await self._finish(job, "done", ("silence.created", text, {"silence": sid, "ends_at": ends}),
                           {"silence": sid}, keep=(_state_key(p["ref"]), sid))

    async def _expire(self, job: Job, now: float) -> None:
        p = job.payload
        key = _state_key(p["ref"])
        sid = await self.store.read(lambda tx: tx.get_state(key))
        if sid is None:
            jobs = await self.store.read(lambda tx: tx.jobs_of(job.incident_id))
            creating = any(j.key == p.get("create_key") and j.state == "running" for j in jobs)
            if creating and job.attempts < EXPIRE_WAITS:
                await self.store.transaction(lambda tx: tx.retry_job(job.id, now + backoff(self.retry, job.attempts),
                                                                     now, {"waiting": "create in flight"}))
                return
            await self._finish(job, "done", None, {"reason": "no silence to expire"})
            return
        assert self.api is not None
        await self.api.expire(sid)
        await self._finish(job, "done", ("silence.expired", f"Alertmanager silence {sid} expired", {"silence": sid}),
                           {"silence": sid}, keep=(key, None))

    @staticmethod
    def _matchers_text(p: dict[str, Any]) -> str:
        return ", ".join(f"{m['name']}{'' if m['isEqual'] else '!'}{'=~' if m['isRegex'] else '='}"
                         f"{json.dumps(m['value'])}" for m in p.get("matchers", []))

    async def _failed(self, job: Job, e: DeliveryError) -> None:
        end = self.clock.now()
        what = "create" if job.payload.get("op") == "create" else "expire"
        if e.retryable:
            due = end + backoff(self.retry, job.attempts, e.retry_after)
            ev = ("silence.retry", f"Alertmanager silence {what} failed, will retry at {iso(due)}: {e.reason}",
                  {"attempt": job.attempts, "error": e.reason, "due_at": due})
            log.warning("silence failed; will retry", key=job.key, error=e.reason)

            def retry(tx: Any) -> None:
                self._record(tx, job, ev, end)
                tx.retry_job(job.id, due, end, {"error": e.reason})

            await self.store.transaction(retry)
            return
        log.error("silence failed", key=job.key, error=e.reason)
        await self._finish(job, "failed", ("silence.failed", f"Alertmanager silence {what} failed (not retryable): "
                                           f"{e.reason}", {"error": e.reason}), {"error": e.reason})

    def _record(self, tx: Any, job: Job, ev: tuple[str, str, dict[str, Any]], now: float) -> None:
        kind, text, data = ev
        if job.payload.get("incident"):
            tx.add_event(job.incident_id, TimelineEvent(now, kind, text, data))
        else:
            tx.audit(now, kind, f"maintenance:{job.payload.get('window')}", {"message": text, **data})

    async def _finish(self, job: Job, row_state: str, ev: tuple[str, str, dict[str, Any]] | None,
                      result: dict[str, Any], *, keep: tuple[str, str | None] | None = None) -> None:
        now = self.clock.now()

        def commit(tx: Any) -> None:
            if ev is not None:
                self._record(tx, job, ev, now)
            if keep is not None:
                tx.set_state(keep[0], keep[1])
            tx.finish_job(job.id, row_state, now, result)

        await self.store.transaction(commit)
