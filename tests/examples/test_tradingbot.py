"""examples/tradingbot (seed 001): its rule unit tests pass, and the SEV-1 and SEV-2 paths run end to end
against the fake tradingbot REST API (Django REST framework token auth), Slack and Alpaca's clock."""

from __future__ import annotations

from typing import Any

from tests.examples import conftest as ex
from tests.incidents.test_pipeline import RESOLVED

TOKEN = "tradingbot-drf-token"
CHANNEL = "#tradingbot-incidents"
SEV1 = ("/api/circuit-breaker/trip", "/api/orders/cancel-all", "/api/reconciliation/run")


def env(bot: Any) -> dict[str, str]:
    return {"TRADINGBOT_API_URL": bot.url, "TRADINGBOT_API_TOKEN": TOKEN}


async def fire(rb: Any, name: str, **kw: Any) -> None:
    await ex.fire_alert(rb, name, job="tradingbot", **kw)


def test_unit_tests_pass() -> None:
    """`runbookd test examples/tradingbot/rules/tests/*.yml` succeeds."""
    ex.assert_unit_tests_pass("tradingbot")


async def test_fake_executes_each_idempotency_key_once(tradingbot: Any) -> None:
    """The tradingbot fake counts executions once per Idempotency-Key."""
    await ex.assert_key_executes_once(tradingbot, "/api/circuit-breaker/trip", {"Authorization": f"Token {TOKEN}"},
                                      {"reason": "manual_halt"})


async def test_sev1_trips_cancels_and_reconciles_once(fakes: Any, tradingbot: Any, make_runbookd: Any) -> None:
    """An open circuit breaker: trip, cancel all, reconcile - once each, with the literal values; one
    page; re-sends change nothing; resolving checks the reconciliation and never resumes trading."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "tradingbot", env(tradingbot))
    await fire(rb, "CircuitBreakerOpen")
    inc = await ex.only_incident(rb, "sev1-trading-halt")
    assert inc["severity"] == "P0"
    ex.assert_executed_once(tradingbot, *SEV1)
    trip = tradingbot.calls("/api/circuit-breaker/trip")[0]
    assert trip["headers"]["Authorization"] == f"Token {TOKEN}"
    assert trip["json"] == {"reason": "runbookd_sev1",
                            "message": f"Emergency halt by runbookd: CircuitBreakerOpen (incident {inc['id']})"}
    assert tradingbot.calls("/api/orders/cancel-all")[0]["json"] == {"reason": "runbookd_sev1", "incident": inc["id"]}
    assert (tradingbot.breaker, tradingbot.open_orders) == ("tripped", 0)
    assert len(ex.slack_pages(fakes, CHANNEL)) == 1
    assert any("Trading stays halted" in str(b) for b in ex.slack_posts(fakes, CHANNEL))

    for _ in range(3):
        await fire(rb, "CircuitBreakerOpen")
    ex.assert_executed_once(tradingbot, *SEV1)
    assert len(ex.slack_pages(fakes, CHANNEL)) == 1

    await fire(rb, "CircuitBreakerOpen", **RESOLVED)
    assert tradingbot.count("/api/reconciliation/status", "GET") == 1
    assert tradingbot.executions("/api/trading/mode") == 0  # resuming in stages is a person's job
    assert tradingbot.breaker == "tripped"
    assert ex.step_outcomes(await ex.timeline(rb, inc["id"]))["verify-reconciliation"] == "ok"


async def test_reconciliation_breaks_page_at_once(fakes: Any, tradingbot: Any, make_runbookd: Any) -> None:
    """A reconciliation that is not clean fails its step and pages ACTION NEEDED; the halt stays."""
    tradingbot.breaks = 2
    rb = await ex.example_runbookd(make_runbookd, fakes, "tradingbot", env(tradingbot))
    await fire(rb, "ReconciliationBreak")
    inc = await ex.only_incident(rb, "sev1-trading-halt")
    outcomes = ex.step_outcomes(await ex.timeline(rb, inc["id"]))
    assert outcomes["trip-circuit-breaker"] == "ok" and outcomes["reconcile-positions"] == "failed"
    assert any("ACTION NEEDED" in str(b) and "reconcile-positions" in str(b) for b in ex.slack_posts(fakes))
    assert tradingbot.breaker == "tripped"


async def test_sev2_trips_when_nobody_answers_in_15_minutes(fakes: Any, tradingbot: Any, make_runbookd: Any) -> None:
    """SEV-2 with the market open: the trip waits for the operator; unanswered for 15 minutes it runs
    (on_timeout: approve), then open orders are cancelled - each once."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "tradingbot", env(tradingbot))
    await fire(rb, "HighRejectRate")
    inc = await ex.only_incident(rb, "sev2-elevated-risk")
    assert inc["severity"] == "P1"
    assert fakes.alpaca.count("/v2/clock") >= 1  # the `when: market_open` precondition
    assert tradingbot.executions("/api/circuit-breaker/trip") == 0
    assert any("trip-circuit-breaker" in str(b) for b in ex.slack_posts(fakes, CHANNEL))
    await rb.advance(899)
    assert tradingbot.executions("/api/circuit-breaker/trip") == 0
    await rb.advance(1)
    assert tradingbot.executions("/api/circuit-breaker/trip") == 1
    assert tradingbot.executions("/api/orders/cancel-all") == 1
    assert tradingbot.calls("/api/circuit-breaker/trip")[0]["json"]["reason"] == "runbookd_sev2"
    assert "approval.timeout" in [e["kind"] for e in await ex.timeline(rb, inc["id"])]


async def test_sev2_rejected_by_the_operator_stops_and_pages(fakes: Any, tradingbot: Any,
                                                             make_runbookd: Any) -> None:
    """The operator says no: nothing is tripped or cancelled (on_failure: stop) and the rejection pages."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "tradingbot", env(tradingbot))
    await fire(rb, "StaleMarketData")
    inc = await ex.only_incident(rb, "sev2-elevated-risk")
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/reject",
                          {"step": "trip-circuit-breaker", "by": "primary-operator"})
    assert r.status == 200, await r.text()
    await rb.advance(900)
    assert tradingbot.executed == []
    kinds = [e["kind"] for e in await ex.timeline(rb, inc["id"])]
    assert "approval.rejected" in kinds and "playbook.stopped" in kinds
    assert any("ACTION NEEDED" in str(b) and "rejected" in str(b) for b in ex.slack_posts(fakes))


async def test_vix_spike_auto_trip_in_shadow_sends_nothing(fakes: Any, tradingbot: Any, make_runbookd: Any) -> None:
    """The shadow candidate records its trip without sending it; the SEV-2 rule asks the operator."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "tradingbot", env(tradingbot))
    await fire(rb, "VixSpike")
    shadow = await ex.only_incident(rb, "vix-spike-auto-trip")
    kinds = [e["kind"] for e in await ex.timeline(rb, shadow["id"])]
    assert "rule.shadow" in kinds and "step.dry_run" in kinds and "notify.shadow" in kinds
    assert tradingbot.requests == []
    assert len(ex.slack_pages(fakes, CHANNEL)) == 1  # the SEV-2 incident's page only
    assert (await ex.only_incident(rb, "sev2-elevated-risk"))["status"] == "firing"


PEOPLE = [{"name": "olga", "role": "admin", "slack_users": ["U0OLGA"]}]


async def start_resume(fakes: Any, tradingbot: Any, make_runbookd: Any) -> tuple[Any, dict[str, Any]]:
    """runbookd with the example's rules; olga runs `/runbookd run staged-resume` in Slack."""
    from tests.playbooks.test_two_person import command

    rb = await ex.example_runbookd(make_runbookd, fakes, "tradingbot", env(tradingbot), access={"people": PEOPLE})
    tradingbot.mode = "halted"
    started = await command(rb, "U0OLGA", "run staged-resume")
    assert started["response_type"] == "in_channel", started
    [inc] = await rb.api("/api/v1/incidents")
    return rb, inc


async def approve(rb: Any, inc: dict[str, Any], step: str) -> None:
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/approve", {"step": step})
    assert r.status == 200, await r.text()
    await rb.run()


async def test_staged_resume_runs_in_order_with_its_waits_and_approvals(fakes: Any, tradingbot: Any,
                                                                      make_runbookd: Any) -> None:
    """restricted at once (the bot's answer shows the mode); 30 minutes; a clean check; cautious only
    once approved; 30 minutes; a check; normal only once approved; then the operator is told."""
    rb, inc = await start_resume(fakes, tradingbot, make_runbookd)
    assert tradingbot.modes == ["restricted"]
    await rb.advance(30 * 60 - 1)
    assert tradingbot.count("/api/reconciliation/status", "GET") == 1  # only the first check yet
    await rb.advance(1)
    assert tradingbot.count("/api/reconciliation/status", "GET") == 2
    await rb.advance(10 * 60)
    assert tradingbot.modes == ["restricted"]  # cautious waits for its approval
    assert any("mode-cautious" in str(b) for b in ex.slack_posts(fakes, CHANNEL))
    await approve(rb, inc, "mode-cautious")
    assert tradingbot.modes == ["restricted", "cautious"]
    await rb.advance(30 * 60)
    assert tradingbot.count("/api/reconciliation/status", "GET") == 3
    assert tradingbot.modes == ["restricted", "cautious"]
    await approve(rb, inc, "mode-normal")
    assert tradingbot.modes == ["restricted", "cautious", "normal"] and tradingbot.mode == "normal"
    assert any("Staged resume done: trading is back to normal" in str(b) for b in ex.slack_posts(fakes, CHANNEL))
    kinds = [e["kind"] for e in await ex.timeline(rb, inc["id"])]
    assert "playbook.done" in kinds and kinds.count("step.waiting") == 2


async def test_a_rejected_stage_stops_the_resume_where_it_is(fakes: Any, tradingbot: Any, make_runbookd: Any) -> None:
    """Rejecting cautious leaves the bot restricted: nothing after it runs, and it is paged."""
    rb, inc = await start_resume(fakes, tradingbot, make_runbookd)
    await rb.advance(30 * 60)
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/reject", {"step": "mode-cautious"})
    assert r.status == 200
    await rb.run()
    await rb.advance(3600)
    assert tradingbot.modes == ["restricted"]
    assert ex.step_outcomes(await ex.timeline(rb, inc["id"]))["mode-cautious"] == "rejected"
    assert "watch-cautious" not in ex.step_outcomes(await ex.timeline(rb, inc["id"]))


async def test_a_break_found_while_restricted_stops_the_resume(fakes: Any, tradingbot: Any,
                                                              make_runbookd: Any) -> None:
    """The reconciliation is not clean at the check after restricted: no approval is asked, the bot
    stays restricted, ACTION NEEDED is posted."""
    rb, inc = await start_resume(fakes, tradingbot, make_runbookd)
    tradingbot.last_reconciliation = {"clean": False, "breaks": 1, "break_value_usd": 1250.0}
    await rb.advance(30 * 60)
    assert tradingbot.modes == ["restricted"]
    outcomes = ex.step_outcomes(await ex.timeline(rb, inc["id"]))
    assert outcomes["check-restricted"] == "failed" and "mode-cautious" not in outcomes
    assert any("ACTION NEEDED" in str(b) and "check-restricted" in str(b) for b in ex.slack_posts(fakes))
