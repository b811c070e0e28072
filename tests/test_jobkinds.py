"""The table of work-row kinds is the one place the dispatcher, the sender, the bulkheads and the simulation read."""

from __future__ import annotations

from typing import get_args

from receiver.incidents.bulkheads import ROUTED
from receiver.jobkinds import JOB_KINDS, UNKNOWN, kinds, spec
from receiver.model import JobKind
from receiver.simulate.plan import SILENT_KINDS


def test_every_job_kind_has_exactly_one_line() -> None:
    """Each ``JobKind`` is in the table, and nothing else is."""
    assert set(JOB_KINDS) == set(get_args(JobKind))


def test_handlers_of_the_live_path() -> None:
    """Steps go to the runner, targets and silences to their workers, everything else to the sender."""
    assert kinds(handler="runner") == ("step",)
    assert kinds(handler="targets") == ("target",)
    assert kinds(handler="silences") == ("silence",)
    assert spec("no-such-kind") == UNKNOWN and UNKNOWN.handler == "sender"


def test_bulkheads_and_simulation_read_the_table() -> None:
    """The rows a channel's bulkhead claims and the rows the plan does not list come from the table."""
    assert ROUTED == ("page", "refresh", "resolve", "ack", "approval", "notice")
    assert SILENT_KINDS == ("step", "refresh", "target")


def test_follow_ups_wait_for_their_page() -> None:
    """Refresh, resolve, ack, approval, notice and the post-mortem link refer to the page on their receiver."""
    assert set(kinds(follow_up=True)) == {"refresh", "resolve", "ack", "approval", "notice", "postmortem"}
    assert not spec("page").follow_up and not spec("update").follow_up
