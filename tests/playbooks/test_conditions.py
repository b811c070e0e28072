"""Step results as data, ``if:``, ``wait:`` (a durable timer) and ``on_skip`` against the fakes."""

from __future__ import annotations

from typing import Any

from tests.playbooks.test_until import action_needed, events, fire, make

STATUS = {"mode": "halted", "healthy": True}


def step_events(evs: list[dict[str, Any]], step: str) -> list[str]:
    return [e["kind"] for e in evs if e["data"].get("step") == step]


async def test_a_later_step_renders_an_earlier_steps_json_and_status(fakes: Any, make_runbookd: Any) -> None:
    """``steps.check.result.data.json.mode`` and ``.data.status`` fill the resume request's body."""
    fakes.trading.answers = {"/admin/status": STATUS}
    rb = await make(make_runbookd, fakes)
    await fire(rb, "Staged")
    [resume] = [r for r in fakes.trading.accepted if r["path"] == "/admin/resume"]
    assert resume["json"] == {"from": "halted", "status": "200"}


async def test_if_false_skips_the_step_without_paging(fakes: Any, make_runbookd: Any) -> None:
    """``if`` over an earlier result that is false skips the step: not sent, no on_failure page."""
    fakes.trading.answers = {"/admin/status": STATUS}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Staged")
    evs = await events(rb, inc["id"])
    assert fakes.trading.hits("/admin/never") == 0
    assert step_events(evs, "never") == ["step.condition", "step.skipped"]
    assert not action_needed(fakes)


async def test_if_true_runs_the_step_and_if_false_does_not(fakes: Any, make_runbookd: Any) -> None:
    """The trading system is not healthy: ``if: steps.check.result.data.json.healthy`` skips the resume."""
    fakes.trading.answers = {"/admin/status": {"mode": "halted", "healthy": False}}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Staged")
    assert fakes.trading.hits("/admin/resume") == 0
    assert step_events(await events(rb, inc["id"]), "resume")[-1] == "step.skipped"


async def test_a_wait_step_holds_the_playbook_for_its_duration(fakes: Any, make_runbookd: Any) -> None:
    """``wait: 10m``: the next step runs at 10 minutes, not before."""
    fakes.trading.answers = {"/admin/status": STATUS, "/admin/mode": {"mode": "normal"}}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Staged")
    assert "step.waiting" in step_events(await events(rb, inc["id"]), "settle")
    await rb.advance(599)
    assert fakes.trading.hits("/admin/mode") == 0
    await rb.advance(1)
    assert fakes.trading.hits("/admin/mode") == 1


async def test_a_restart_during_a_wait_keeps_the_wait_and_repeats_nothing(fakes: Any, make_runbookd: Any) -> None:
    """A new process on the same database 5 minutes into the wait: the timer fires at 10 minutes, the
    earlier steps are not sent again."""
    fakes.trading.answers = {"/admin/status": STATUS, "/admin/mode": {"mode": "normal"}}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Staged")
    await rb.advance(300)
    rb2 = await make(make_runbookd, fakes, at=rb.clock.now())
    await rb2.advance(299)
    assert fakes.trading.hits("/admin/mode") == 0
    await rb2.advance(1)
    assert fakes.trading.hits("/admin/mode") == 1
    assert (fakes.trading.hits("/admin/status"), fakes.trading.hits("/admin/resume")) == (1, 1)
    assert "playbook.done" in [e["kind"] for e in await events(rb2, inc["id"])]


async def test_a_precondition_skip_does_not_fire_on_failure(fakes: Any, make_runbookd: Any) -> None:
    """Market closed: the step with ``when`` and ``on_failure: {page: true}`` is skipped without a page;
    the one with ``on_skip: {page: true}`` pages."""
    fakes.alpaca.market_open = False
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Skips")
    evs = await events(rb, inc["id"])
    assert step_events(evs, "quiet-skip")[-1] == "step.skipped" and step_events(evs, "loud-skip")[-1] == "step.skipped"
    pages = action_needed(fakes)
    assert len(pages) == 1 and "loud-skip" in pages[0]
