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
        ``pending`` until the mute ends and ``notify.muted`` is committed on the incident's timeline."""
        now = self.clock.now()
        rules = self.rules()
        windows = await self.store.read(lambda tx: rows.current(tx, now))
        cover = covering(windows, incident, now)
        names = step_intervals(rules, incident, job)
        muting = muting_intervals(names, rules.in_interval, now) if names else []
        if not cover and not muting:
            return False
        ends = [w.ends_at for w in cover] + ([mute_ends(muting, rules.in_interval, now)] if muting else [])
        until = min(ends)
        receiver = job.payload.get("receiver")
        why = [f"maintenance window {w.id} ({w.reason}) until {iso(w.ends_at)}" for w in cover]
        why += [f"time interval '{n}' (mute_time_intervals)" for n in muting]
        muted = {"windows": [w.id for w in cover], "intervals": muting, "until": until}
        ev = TimelineEvent(now, MUTED, f"page to {receiver} muted by {'; '.join(why)}: not sent; it pages at "
                           f"{iso(until)} if the incident is still unacknowledged",
                           {"receiver": receiver, "step": job.payload.get("step", 0), **muted})

        def commit(tx: Any) -> None:
            tx.add_event(job.incident_id, ev)
            tx.reschedule(job.id, until, now, {**job.payload, "muted": muted})

        await self.store.transaction(commit)
        if self.metrics is not None:
            self.metrics.notifications.labels(receiver=str(receiver), outcome="muted").inc()
        log.info("page muted", incident=job.incident_id, receiver=receiver, until=iso(until))
        return True
