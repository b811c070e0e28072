"""Plan notification rows from an incident's escalation policy (pure: returns rows, stores nothing).

Keys are idempotency keys: ``page:<incident>:<epoch>:<step>:<receiver>`` for escalation steps,
``update:<incident>:<epoch>:<n>`` for status updates, ``resolve:<incident>:<epoch>:<receiver>``.
``epoch`` counts reopenings, so a reopened incident pages again under new keys while a re-sent
alert can never enqueue the same page twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from receiver.model import Job
from receiver.rules.model import EscalationPolicy


@dataclass(frozen=True)
class PlannedJob:
    """A work row to enqueue: idempotency ``key``, ``kind``, ``payload`` and ``due_at`` (epoch s)."""

    key: str
    kind: str
    due_at: float
    payload: dict[str, Any] = field(default_factory=dict)


def plan_pages(incident_id: str, epoch: int, start: float, policy: EscalationPolicy | None,
               tag: str = "") -> list[PlannedJob]:
    """Rows for every escalation step of ``policy`` (``after`` seconds from ``start``) and the first update.

    ``tag`` distinguishes a second plan in the same epoch (a raised severity's policy).
    """
    if policy is None:
        return []
    jobs = []
    for i, step in enumerate(policy.steps):
        for receiver in step.notify:
            jobs.append(
                PlannedJob(
                    key=f"page:{incident_id}:{epoch}{tag}:{i}:{receiver}",
                    kind="page",
                    due_at=start + step.after,
                    payload={"receiver": receiver, "step": i, "epoch": epoch},
                )
            )
    if policy.updates is not None and not tag:
        jobs.append(plan_update(incident_id, epoch, 1, start + policy.updates.every))
    return jobs


def plan_update(incident_id: str, epoch: int, n: int, due_at: float) -> PlannedJob:
    """The ``n``-th status update row, due at ``due_at``."""
    return PlannedJob(
        key=f"update:{incident_id}:{epoch}:{n}", kind="update", due_at=due_at,
        payload={"n": n, "epoch": epoch},
    )


def next_update_due(last_due: float, every: float, now: float) -> float:
    """The first tick ``last_due + k·every`` (k ≥ 1) after ``now``: a late process catches up once."""
    if every <= 0:
        raise ValueError("updates.every must be positive")
    k = max(1, int((now - last_due) // every) + 1)
    return last_due + k * every


def paged_receivers(jobs: list[Job]) -> list[str]:
    """Receivers that were paged (by the policy, or at once by a ``notice``), or are being paged."""
    seen: list[str] = []
    for j in jobs:
        if j.kind in ("page", "notice") and j.state in ("done", "running", "unknown"):
            r = j.payload.get("receiver")
            if isinstance(r, str) and r not in seen:
                seen.append(r)
    return seen


def plan_resolve(incident_id: str, epoch: int, receivers: list[str], now: float) -> list[PlannedJob]:
    """One resolve row per paged receiver, due now."""
    return [
        PlannedJob(key=f"resolve:{incident_id}:{epoch}:{r}", kind="resolve", due_at=now, payload={"receiver": r})
        for r in receivers
    ]
