"""examples/paper-trader (seed 003): its rule unit tests pass, and the emergency flatten and the kill-switch
path run end to end against the fake Alpaca paper account (the trader itself has no admin API), Slack
and PagerDuty."""

from __future__ import annotations

from typing import Any

from receiver.settings import load_settings
from tests.examples import conftest as ex
from tests.incidents.test_pipeline import RESOLVED

CHANNEL = "#paper-trading"


def env(fakes: Any) -> dict[str, str]:
    return {"PAPER_TRADER_ALPACA_API_KEY": "PKTESTKEY", "PAPER_TRADER_ALPACA_SECRET_KEY": "test-secret",
            "PAPER_TRADER_ALPACA_BASE_URL": fakes.alpaca.url}


async def runbookd(make_runbookd: Any, fakes: Any) -> Any:
    # The example's own PAPER_TRADER_ALPACA_* variables reach runbookd's Alpaca settings.
    alpaca = load_settings(ex.EXAMPLES / "paper-trader" / "runbookd.yml", env=env(fakes)).alpaca
    assert (alpaca.api_key, alpaca.secret_key, alpaca.url_override, alpaca.paper) == (
        "PKTESTKEY", "test-secret", fakes.alpaca.url, True)
    return await ex.example_runbookd(make_runbookd, fakes, "paper-trader", env(fakes))


async def fire(rb: Any, name: str = "PaperTraderDown", **kw: Any) -> None:
    await ex.fire_alert(rb, name, job="paper-trader", **kw)


def closes(fakes: Any) -> int:
    return fakes.alpaca.count("/v2/positions/SPY", "DELETE")


def test_unit_tests_pass() -> None:
    """`runbookd test examples/paper-trader/rules/tests/*.yml` succeeds."""
    ex.assert_unit_tests_pass("paper-trader")


async def test_trader_down_flattens_once(fakes: Any, make_runbookd: Any) -> None:
    """P0: cancel all orders at once; close SPY after 5 unanswered minutes (on_timeout: approve); the
    INCIDENT REPORT goes to Slack; one page; re-sends change nothing; resolving does not re-open."""
    rb = await runbookd(make_runbookd, fakes)
    await fire(rb)
    inc = await ex.only_incident(rb, "paper-trader-down")
    assert inc["severity"] == "P0"
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1
    assert fakes.alpaca.open_orders() == []
    assert closes(fakes) == 0  # waiting for the system owner
    await rb.advance(299)
    assert closes(fakes) == 0
    await rb.advance(1)
    assert closes(fakes) == 1
    assert fakes.alpaca.positions == []
    assert "approval.timeout" in [e["kind"] for e in await ex.timeline(rb, inc["id"])]
    report = [b["text"] for b in ex.slack_posts(fakes, CHANNEL) if "INCIDENT REPORT" in str(b.get("text"))]
    assert len(report) == 1 and "Severity: P0" in report[0]
    # Seed 003's template (report.txt.j2) over the timeline: each action taken with its result.
    assert "Actions Taken:" in report[0] and "cancel-orders (alpaca.cancel_all_orders)" in report[0]
    assert "Next steps: check" in report[0]
    assert len(ex.pd_events(fakes, "trigger", "default")) == 1
    assert len(ex.slack_pages(fakes, CHANNEL)) == 1

    for _ in range(3):
        await fire(rb)
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1
    assert closes(fakes) == 1
    assert len(ex.pd_events(fakes, "trigger", "default")) == 1

    await fire(rb, **RESOLVED)
    assert closes(fakes) == 1 and fakes.alpaca.positions == []
    assert any("stay in force" in str(b) for b in ex.slack_posts(fakes, CHANNEL))


async def test_market_closed_leaves_the_position_and_asks_nobody(fakes: Any, make_runbookd: Any) -> None:
    """With the market closed the close is skipped by its precondition: no approval request, no order."""
    fakes.alpaca.market_open = False
    rb = await runbookd(make_runbookd, fakes)
    await fire(rb)
    inc = await ex.only_incident(rb, "paper-trader-down")
    events = await ex.timeline(rb, inc["id"])
    assert ex.step_outcomes(events)["close-spy"] == "skipped"
    assert "approval.requested" not in [e["kind"] for e in events]
    assert closes(fakes) == 0 and fakes.alpaca.count("/v2/orders", "DELETE") == 1


async def test_at_most_one_flatten_per_hour(fakes: Any, make_runbookd: Any) -> None:
    """A second crash within the hour, with a new SPY position: the close is refused by the rate limit,
    and that is paged, not silent."""
    rb = await runbookd(make_runbookd, fakes)
    await fire(rb)
    first = await ex.only_incident(rb, "paper-trader-down")
    await rb.api_post(f"/api/v1/incidents/{first['id']}/approve", {"step": "close-spy", "by": "system-owner"})
    await rb.run()
    assert closes(fakes) == 1
    await fire(rb, **RESOLVED)
    await rb.advance(15 * 60)  # past the reopen window: the next crash is a new incident
    fakes.alpaca.reset_state()  # the restarted trader bought SPY again
    await fire(rb, starts_at="2026-11-22T02:30:00Z")
    second = next(i for i in await rb.api("/api/v1/incidents") if i["status"] == "firing")
    assert second["id"] != first["id"]
    await rb.api_post(f"/api/v1/incidents/{second['id']}/approve", {"step": "close-spy", "by": "system-owner"})
    await rb.run()
    assert closes(fakes) == 1
    assert ex.step_outcomes(await ex.timeline(rb, second["id"]))["close-spy"] == "skipped"
    for _ in range(5):  # the channel's posts of this instant are past Slack's burst: one per second
        await rb.advance(1)
    assert any("ACTION NEEDED" in str(b) and "rate limit" in str(b) for b in ex.slack_posts(fakes))


async def test_kill_switch_cancels_and_reports_without_flattening(fakes: Any, make_runbookd: Any) -> None:
    """P1 daily-loss kill switch: cancel resting orders once, read the clock, post the INCIDENT REPORT
    with the trigger's next steps; the position stays; the slippage flatten candidate sends nothing."""
    rb = await runbookd(make_runbookd, fakes)
    await fire(rb, "KillSwitchTriggered", trigger="daily_loss")
    await fire(rb, "KillSwitchTriggered", trigger="daily_loss")
    inc = await ex.only_incident(rb, "kill-switch-triggered")
    assert inc["severity"] == "P1"
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1
    assert fakes.alpaca.count("/v2/clock") >= 1
    assert closes(fakes) == 0 and len(fakes.alpaca.positions) == 1
    [report] = [b["text"] for b in ex.slack_posts(fakes, CHANNEL) if "INCIDENT REPORT" in str(b.get("text"))]
    assert "KILL SWITCH TRIGGERED (daily_loss)" in report and "Wait for the next trading day" in report
    assert ex.pd_events(fakes, "trigger") == []  # P1: the pager only after 30 minutes

    await fire(rb, "KillSwitchTriggered", trigger="slippage", fingerprint="00000000000000b2")
    shadow = await ex.only_incident(rb, "slippage-kill-switch-flatten")
    assert "rule.shadow" in [e["kind"] for e in await ex.timeline(rb, shadow["id"])]
    assert closes(fakes) == 0
