"""The retry policy's arithmetic: capped exponential backoff with jitter, Retry-After, deadlines."""

from __future__ import annotations

from receiver.escalation.retry import backoff, next_step_rows, plan_retry
from receiver.model import Job
from receiver.settings import RetryPolicy

T0 = 1_800_000_000.0
EXACT = RetryPolicy(initial=2.0, max=60.0, jitter=0.0)


def test_backoff_doubles_from_initial_up_to_the_cap() -> None:
    assert [backoff(EXACT, n) for n in range(1, 9)] == [2, 4, 8, 16, 32, 60, 60, 60]


def test_jitter_adds_at_most_its_bound() -> None:
    policy = RetryPolicy(initial=2.0, max=60.0, jitter=1.5)
    delays = [backoff(policy, 3) for _ in range(200)]
    assert all(8.0 <= d <= 9.5 for d in delays) and len(set(delays)) > 1


def test_retry_after_is_never_undercut() -> None:
    assert backoff(EXACT, 1, retry_after=120.0) == 120.0
    assert backoff(EXACT, 6, retry_after=5.0) == 60.0


def test_a_retry_that_would_fall_past_the_deadline_gives_up() -> None:
    policy = RetryPolicy(initial=2.0, max=60.0, jitter=0.0, deadlines={"P0": 600.0})
    ok = plan_retry(policy, "P0", T0, T0 + 530, 9, None)
    assert ok.due == T0 + 590 and not ok.past_deadline
    late = plan_retry(policy, "P0", T0, T0 + 545, 10, None)
    assert late.due is None and late.past_deadline and late.deadline == T0 + 600


def test_default_deadlines_grow_with_severity_and_cover_unknown_ones() -> None:
    p = RetryPolicy()
    assert [p.deadline(s) for s in ("P0", "P1", "P2", "P3", "P9")] == [600, 1800, 3600, 14400, 14400]


def test_next_step_rows_are_the_first_later_step_still_pending() -> None:
    def job(i: int, step: int, state: str, receiver: str, epoch: int = 0) -> Job:
        return Job(i, f"page:x:{epoch}:{step}:{receiver}", "page", "x",
                   {"receiver": receiver, "step": step, "epoch": epoch}, state, T0, 0)  # type: ignore[arg-type]

    failed = job(1, 0, "running", "pd")
    jobs = [failed, job(2, 0, "pending", "slack"), job(3, 1, "done", "pd2"), job(4, 2, "pending", "email"),
            job(5, 2, "pending", "pd3"), job(6, 3, "pending", "sms"), job(7, 1, "pending", "other-epoch", epoch=1)]
    assert [j.id for j in next_step_rows(jobs, failed)] == [4, 5]
    assert next_step_rows([failed], failed) == []
