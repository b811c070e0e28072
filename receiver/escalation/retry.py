"""The retry and deadline policy of notifications (pure: computes due times and escalation targets).

A failed notification stays a durable work row: it is put back to ``pending`` with a due time
``attempt end + delay``, where the delay is tenacity's capped exponential backoff with random jitter
(``RetryPolicy.initial`` doubling to ``RetryPolicy.max``, plus up to ``jitter``), never shorter than a
vendor's ``Retry-After``. A page is retried until it is delivered, its incident is acknowledged or
resolved (the row is then cancelled when claimed), or its severity's deadline passes, counted from
its first attempt; then the next escalation step with rows still pending is paged at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenacity import RetryCallState, wait_exponential, wait_random

from receiver.model import Job
from receiver.settings import RetryPolicy

#: Payload fields a retried row carries: when it was first attempted (epoch s) and whether a previous
#: attempt's outcome is unknown (so a channel that does not deduplicate must look before re-sending).
FIRST_ATTEMPT = "first_attempt_at"
UNSURE = "unsure"


def backoff(policy: RetryPolicy, attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one.

    ``min(max, initial · 2^(attempt-1)) + uniform(0, jitter)``, at least ``retry_after``.
    """
    wait = wait_exponential(multiplier=policy.initial, max=policy.max) + wait_random(0, policy.jitter)
    # tenacity's wait strategies only read ``attempt_number``; no Retrying object drives this retry.
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = max(1, attempt)
    delay = float(wait(state))
    return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class RetryPlan:
    """What to do with a failed notification: retry at ``due`` (epoch s), or give up (``due`` None)."""

    due: float | None
    deadline: float
    past_deadline: bool


def plan_retry(policy: RetryPolicy, severity: str, first_attempt: float, end: float, attempt: int,
               retry_after: float | None) -> RetryPlan:
    """Plan the retry of an attempt that failed retryably and ended at ``end`` (epoch s).

    Gives up (``due=None``, ``past_deadline=True``) when the next try would fall after the deadline
    (``first_attempt`` + the severity's deadline): waiting for it would page nobody until then.
    """
    deadline = first_attempt + policy.deadline(severity)
    due = end + backoff(policy, attempt, retry_after)
    if due > deadline:
        return RetryPlan(None, deadline, True)
    return RetryPlan(due, deadline, False)


def next_step_rows(jobs: list[Job], failed: Job) -> list[Job]:
    """The pending page rows of the first later escalation step of ``failed``'s epoch, or ``[]``."""
    step = int(failed.payload.get("step", 0))
    epoch = failed.payload.get("epoch", 0)
    later = [j for j in jobs if j.kind == "page" and j.state == "pending" and j.id != failed.id
             and j.payload.get("epoch", 0) == epoch and int(j.payload.get("step", 0)) > step]
    if not later:
        return []
    first = min(int(j.payload.get("step", 0)) for j in later)
    return [j for j in later if int(j.payload.get("step", 0)) == first]
