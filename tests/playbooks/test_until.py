"""Verify until done: the Alpaca bulk actions' built-in verification and ``until:``, durable across a restart."""

from __future__ import annotations

from typing import Any

from tests.conftest import TESTDATA, alert, payload
from tests.incidents.test_pipeline import _p

RULES = [str(TESTDATA / "rules" / "verify.yml")]


async def make(make_runbookd: Any, fakes: Any, at: float | None = None) -> Any:
    rb = await make_runbookd(fakes, rule_files=RULES)
    if at is not None:
        rb.clock.advance(at - rb.clock.now())
    return rb


async def fire(rb: Any, name: str) -> dict[str, Any]:
    await rb.post_alerts(payload(alert(name)))
    await rb.run()
    [inc] = [i for i in await rb.api("/api/v1/incidents") if i["title"].startswith(name)]
    return inc


async def events(rb: Any, incident_id: str) -> list[dict[str, Any]]:
    return list((await rb.api(f"/api/v1/incidents/{incident_id}"))["timeline"])


def action_needed(fakes: Any) -> list[str]:
    return [str(_p(r)) for r in fakes.slack.calls("/api/chat.postMessage") if "ACTION NEEDED" in str(_p(r))]


async def test_a_close_that_leaves_a_position_fails_after_its_timeout_and_pages(fakes: Any,
                                                                               make_runbookd: Any) -> None:
    """The broker still shows SPY after the close: the step checks every 5s, fails at 30s naming SPY,
    and pages ACTION NEEDED; the close itself was sent once."""
    fakes.alpaca.sticky_symbols = {"SPY"}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "FlattenAll")
    kinds = [e["kind"] for e in await events(rb, inc["id"])]
    assert "step.verifying" in kinds and "step.failed" not in kinds
    assert not action_needed(fakes)
    for _ in range(5):
        await rb.advance(5)
    assert "step.failed" not in [e["kind"] for e in await events(rb, inc["id"])]
    await rb.advance(5)
    failed = [e for e in await events(rb, inc["id"]) if e["kind"] == "step.failed"]
    assert len(failed) == 1 and "not done within 30s" in failed[0]["message"]
    assert failed[0]["data"]["data"]["remaining"] == ["SPY"]
    assert len(action_needed(fakes)) == 1 and "SPY" in action_needed(fakes)[0]
    assert fakes.alpaca.count("/v2/positions", "DELETE") == 1
    assert fakes.alpaca.count("/v2/positions", "GET") >= 7  # before, after, then one read per check


async def test_a_close_is_done_when_the_broker_shows_none_left(fakes: Any, make_runbookd: Any) -> None:
    """The position goes away before the timeout: the step is ok, no page, and the next step sees the
    verified result (``steps.flatten.result.data.positions_after`` is 0)."""
    fakes.alpaca.sticky_symbols = {"SPY"}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "FlattenAll")
    fakes.alpaca.positions = []
    await rb.advance(5)
    evs = await events(rb, inc["id"])
    ok = [e for e in evs if e["kind"] == "step.ok" and e["data"]["step"] == "flatten"]
    assert ok and "done after 5s" in ok[-1]["message"]
    assert any(e["kind"] == "step.ok" and e["data"]["step"] == "after-flatten" for e in evs)
    logged = [e for e in evs if e["data"].get("step") == "after-flatten" and e["kind"] == "step.ok"]
    assert "flattened: 0 left" in logged[0]["message"]
    assert not action_needed(fakes)


async def test_a_close_that_leaves_a_position_is_not_ok_at_once(fakes: Any, make_runbookd: Any) -> None:
    """A close that leaves SPY open is not reported ok (the built-in verification is on by default)."""
    fakes.alpaca.sticky_symbols = {"SPY"}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "FlattenAll")
    assert not [e for e in await events(rb, inc["id"]) if e["kind"] == "step.ok" and e["data"]["step"] == "flatten"]


async def test_a_restart_during_until_repeats_no_action_and_keeps_the_wait(fakes: Any,
                                                                          make_runbookd: Any) -> None:
    """runbookd restarts (a new store, dispatcher and runner on the same database) while the close is
    being verified: the new process goes on checking at the due time, never closes again, and fails
    at the original deadline."""
    fakes.alpaca.sticky_symbols = {"SPY"}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "FlattenAll")
    await rb.advance(10)
    rb2 = await make(make_runbookd, fakes, at=rb.clock.now())
    assert await rb2.run() == 0  # nothing is due before the next check
    for _ in range(3):
        await rb2.advance(5)
    assert "step.failed" not in [e["kind"] for e in await events(rb2, inc["id"])]
    await rb2.advance(5)
    failed = [e for e in await events(rb2, inc["id"]) if e["kind"] == "step.failed"]
    assert len(failed) == 1 and "not done within 30s" in failed[0]["message"]
    assert fakes.alpaca.count("/v2/positions", "DELETE") == 1


async def test_until_over_its_own_result_repeats_a_get_until_it_holds(fakes: Any, make_runbookd: Any) -> None:
    """``until`` on an idempotent GET: repeated every minute until the trading system says normal."""
    fakes.trading.answers = {"/admin/status": {"mode": "halted", "healthy": True},
                             "/admin/mode": [{"mode": "restricted"}, {"mode": "cautious"}, {"mode": "normal"}]}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Staged")
    await rb.advance(600)  # the wait step
    assert fakes.trading.hits("/admin/mode") == 1
    await rb.advance(60)
    assert fakes.trading.hits("/admin/mode") == 2
    assert "step.verifying" in [e["kind"] for e in await events(rb, inc["id"])]
    await rb.advance(60)
    assert fakes.trading.hits("/admin/mode") == 3
    evs = await events(rb, inc["id"])
    assert [e for e in evs if e["kind"] == "step.ok" and e["data"]["step"] == "confirm"]
    assert "playbook.done" in [e["kind"] for e in evs]


async def test_until_that_never_holds_fails_at_its_timeout_and_pages(fakes: Any, make_runbookd: Any) -> None:
    """The mode never becomes normal: after 5 minutes the step fails and its default on_failure pages."""
    fakes.trading.answers = {"/admin/status": {"mode": "halted", "healthy": True}, "/admin/mode": {"mode": "cautious"}}
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Staged")
    await rb.advance(600)
    for _ in range(5):
        await rb.advance(60)
    failed = [e for e in await events(rb, inc["id"]) if e["kind"] == "step.failed"]
    assert len(failed) == 1 and failed[0]["data"]["step"] == "confirm" and "within 5m" in failed[0]["message"]
    assert fakes.trading.hits("/admin/mode") == 6
    assert any("confirm" in t for t in action_needed(fakes))
