"""The mute check the sender makes before a page: maintenance windows and ``mute_time_intervals``.

A page row of an incident that a maintenance window covers (receiver.maintenance.windows), or whose
escalation step or receiver lists a ``mute_time_intervals`` entry containing the time, is not sent:
``notify.muted`` goes on the timeline and the row itself waits, ``pending``, until the earliest end
of what mutes it. That row is the durable timer (no in-memory timer): when it comes due again the
sender runs it as any page: still muted (a second window), it waits again; acknowledged or resolved
meanwhile, it is cancelled; still firing, it pages then, once (a row is sent once). Ending a window
early makes its waiting rows due at once (receiver.maintenance.service).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from receiver.clock import iso
from receiver.maintenance.windows import covering, mute_ends, muting_intervals
from receiver.model import Job, TimelineEvent
from receiver.store import maintenance as rows
from receiver.store.base import Store

MUTED = "notify.muted"
"""Timeline kind of a page held back by a maintenance window or a mute time interval."""
log = structlog.get_logger("runbookd.maintenance")


def step_intervals(rules: Any, incident: Any, job: Job) -> list[str]:
    """The ``mute_time_intervals`` of the page's escalation step (in the incident's severity policy)
    and of its receiver."""
    names: list[str] = []
    policy = rules.escalation_policies.get(incident.severity)
    step = int(job.payload.get("step", 0))
    if policy is not None and 0 <= step < len(policy.steps):
        names += policy.steps[step].mute_time_intervals
    rcv = rules.receivers.get(job.payload.get("receiver"))
    if rcv is not None:
        names += rcv.mute_time_intervals
    return names


class Mute:
    """Holds back page rows during maintenance; the sender calls ``hold`` before every page."""

    def __init__(self, store: Store, rules: Callable[[], Any], clock: Any, metrics: Any = None) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock
        self.metrics = metrics

    async def hold(self, job: Job, incident: Any) -> bool:
        """Whether the page row ``job`` (claimed) is muted now; when it is, the row is put back to
        ``pending`` until the mute ends and, the first time this row is muted by these windows or
        intervals, ``notify.muted`` is committed on the incident's timeline.

        The windows are read in the same transaction that reschedules the row, with their rows locked:
        a window ended early meanwhile either is seen ended or finds this row pending and makes it due.
        """
        now = self.clock.now()
        rules = self.rules()
        names = step_intervals(rules, incident, job)
        muting = muting_intervals(names, rules.in_interval, now) if names else []
        interval_end = mute_ends(muting, rules.in_interval, now) if muting else None

        def decide(tx: Any) -> tuple[dict[str, Any], bool] | None:
            cover = covering(rows.current(tx, now, lock=True), incident, now)
            if not cover and not muting:
                return None
            until = min([w.ends_at for w in cover] + ([interval_end] if interval_end is not None else []))
            muted = {"windows": [w.id for w in cover], "intervals": muting, "until": until}
            before = job.payload.get("muted") or {}
            new = (before.get("windows"), before.get("intervals")) != (muted["windows"], muted["intervals"])
            if new:
                tx.add_event(job.incident_id, self._event(job, cover, muting, muted, now))
            tx.reschedule(job.id, until, now, {**job.payload, "muted": muted})
            return muted, new

        held = await self.store.transaction(decide)
        if held is None:
            return False
        receiver = job.payload.get("receiver")
        if held[1] and self.metrics is not None:  # counted once per page and reason, as on the timeline
            self.metrics.notifications.labels(receiver=str(receiver), outcome="muted").inc()
        log.info("page muted", incident=job.incident_id, receiver=receiver, until=iso(held[0]["until"]))
        return True

    @staticmethod
    def _event(job: Job, cover: list[Any], muting: list[str], muted: dict[str, Any], now: float) -> TimelineEvent:
        receiver = job.payload.get("receiver")
        why = [f"maintenance window {w.id} ({w.reason}) until {iso(w.ends_at)}" for w in cover]
        why += [f"time interval '{n}' (mute_time_intervals)" for n in muting]
        return TimelineEvent(now, MUTED, f"page to {receiver} muted by {'; '.join(why)}: not sent; it pages at "
                             f"{iso(muted['until'])} if the incident is still unacknowledged",
                             {"receiver": receiver, "step": job.payload.get("step", 0), **muted})
