"""What ``simulate`` says about ``if``, ``until`` and ``wait`` (``receiver.simulate.branches``)."""

from __future__ import annotations

from typing import Any

from receiver.rules.model import Playbook, StepModel
from receiver.simulate.branches import branch_and_verify

CTX = {"alert": {"labels": {"desk": "fx"}}, "incident": {"status": "firing"}, "vars": {}, "secrets": {"t": "s3"}}


def step(**kw: Any) -> StepModel:
    pb = Playbook.model_validate({"steps": [{"name": "s", **kw}]})
    return pb.steps[0]


def test_an_if_over_an_earlier_result_depends_on_that_step() -> None:
    """``if: steps.check…`` cannot be known before the check runs: the plan names the step."""
    out = branch_and_verify(step(action="log", message="m", **{"if": "steps.check.result.data.json.ok"}), CTX, None, 0)
    assert out["branch"] == {"if": "steps.check.result.data.json.ok", "taken": None,
                             "because": "depends on step check's result"}


def test_an_if_over_a_stated_result_is_evaluated() -> None:
    """A result stated by a unit test decides the branch."""
    known = {"check": {"outcome": "ok", "summary": "", "data": {"json": {"ok": False}}}}
    out = branch_and_verify(step(action="log", message="m", **{"if": "steps.check.result.data.json.ok"}), CTX, None,
                            0, known)
    assert out["branch"]["taken"] is False


def test_an_if_over_the_alert_is_evaluated_at_the_instant() -> None:
    """``if: alert.labels.desk == 'fx'`` is evaluated; a calendar interval asks ``in_interval``."""
    out = branch_and_verify(step(action="log", message="m", **{"if": "alert.labels.desk == 'fx'"}), CTX, None, 0)
    assert out["branch"]["taken"] is True
    cal = step(action="log", message="m", **{"if": "calendar.market_hours"})
    assert branch_and_verify(cal, CTX, lambda name, at: name == "market_hours", 0)["branch"]["taken"] is True
    assert branch_and_verify(cal, CTX, lambda name, at: False, 0)["branch"]["taken"] is False


def test_until_and_wait_are_described() -> None:
    """The Alpaca default verification and a ``wait`` step are shown with their durations."""
    v = branch_and_verify(step(action="alpaca.close_all_positions"), CTX, None, 0)["verify"]
    assert v == {"condition": "result.data.positions_after == 0", "interval": "5s", "timeout": "1m",
                 "read": "built in"}
    assert branch_and_verify(step(action="wait", duration="10m"), CTX, None, 0)["wait"] == "10m"
