"""examples/fx-pipeline (seed 002): its rule unit tests pass, and a critical-path failure runs end to end
against the fake trading API (:8080) and risk manager (:8084) - P0 in market hours, P1 outside them."""

from __future__ import annotations

from typing import Any

from tests.examples import conftest as ex

TOKEN = "fx-pipeline-token"
CHANNEL = "#fx-incidents"
PROTECT = ("/emergency/stop-trading", "/emergency/stop-new-positions", "/emergency/set-stop-losses")


def env(fx: Any) -> dict[str, str]:
    return {"FX_PIPELINE_API_URL": fx.url, "FX_PIPELINE_RISK_URL": fx.url, "FX_PIPELINE_DATA_URL": fx.url,
            "FX_PIPELINE_API_TOKEN": TOKEN}


async def runbookd(make_runbookd: Any, fakes: Any, fx: Any, at: float | None = None) -> Any:
    """The example's runbookd against ``fx``, its clock set to ``at`` (epoch seconds) when given."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "fx-pipeline", env(fx))
    if at is not None:
        rb.clock.set(at)
    return rb


async def fire(rb: Any, name: str = "FxServiceDown", **labels: str) -> None:
    await ex.fire_alert(rb, name, **labels)


def test_unit_tests_pass() -> None:
    """`runbookd test examples/fx-pipeline/rules/tests/*.yml` succeeds."""
    ex.assert_unit_tests_pass("fx-pipeline")


async def test_fake_executes_each_idempotency_key_once(fx_pipeline: Any) -> None:
    """The FX pipeline fake counts executions once per Idempotency-Key."""
    await ex.assert_key_executes_once(fx_pipeline, "/emergency/set-stop-losses", {"Authorization": f"Bearer {TOKEN}"},
                                      {"percentage": 2.0, "operator": "test"})


async def test_critical_path_down_in_market_hours_is_p0(fakes: Any, fx_pipeline: Any, make_runbookd: Any) -> None:
    """Friday 10:00 New York: P0; stop trading (verified), stop new positions, 2% stop losses once each;
    closing every position waits for the desk and runs once approved; one page per channel; re-sends
    change nothing; status updates every 15 minutes."""
    rb = await runbookd(make_runbookd, fakes, fx_pipeline, at=ex.MARKET_HOURS)
    await fire(rb, service="signal-generator")
    inc = await ex.only_incident(rb, "critical-path-down")
    assert inc["severity"] == "P0"
    ex.assert_executed_once(fx_pipeline, *PROTECT)
    stop = fx_pipeline.calls("/emergency/stop-trading")[0]
    assert stop["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert stop["json"] == {"reason": "incident_response", "operator": "runbookd", "service": "signal-generator",
                            "incident": inc["id"]}
    assert fx_pipeline.calls("/emergency/set-stop-losses")[0]["json"] == {
        "percentage": 2.0, "operator": "runbookd", "incident": inc["id"]}
    assert fx_pipeline.calls("/emergency/stop-new-positions")[0]["json"] == {
        "reason": "system_instability", "incident": inc["id"]}
    assert fx_pipeline.count("/api/trading-status", "GET") == 1
    assert not fx_pipeline.trading_enabled and not fx_pipeline.new_positions_allowed
    assert [p["stop_loss"] for p in fx_pipeline.positions] == [1.0633, 1.2954]
    assert fx_pipeline.executions("/emergency/close-all-positions") == 0
    assert len(ex.pd_events(fakes, "trigger", "default")) == 1
    assert len(ex.pd_events(fakes, "trigger", "trading_desk")) == 1
    assert len(ex.slack_pages(fakes, CHANNEL)) == 1

    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/approve",
                          {"step": "close-all-positions", "by": "fx-trading-desk"})
    assert r.status == 200, await r.text()
    await rb.run()
    assert fx_pipeline.executions("/emergency/close-all-positions") == 1
    assert fx_pipeline.positions == []

    for _ in range(3):
        await fire(rb, service="signal-generator")
    ex.assert_executed_once(fx_pipeline, *PROTECT, "/emergency/close-all-positions")
    assert len(ex.pd_events(fakes, "trigger", "default")) == 1
    assert len(ex.slack_pages(fakes, CHANNEL)) == 1

    updates = len(ex.slack_posts(fakes, CHANNEL))
    await rb.advance(15 * 60)
    assert any("INCIDENT UPDATE" in str(b) for b in ex.slack_posts(fakes, CHANNEL)[updates:])


async def test_critical_path_down_on_a_weekend_is_p1(fakes: Any, fx_pipeline: Any, make_runbookd: Any) -> None:
    """Saturday: P1; the same protection runs, closing positions is skipped (outside market hours) without
    asking anyone, and PagerDuty is not paged at once."""
    rb = await runbookd(make_runbookd, fakes, fx_pipeline, at=ex.WEEKEND)
    await fire(rb, service="execution-engine")
    inc = await ex.only_incident(rb, "critical-path-down")
    assert inc["severity"] == "P1"
    ex.assert_executed_once(fx_pipeline, *PROTECT)
    events = await ex.timeline(rb, inc["id"])
    assert ex.step_outcomes(events)["close-all-positions"] == "skipped"
    assert "approval.requested" not in [e["kind"] for e in events]
    assert fx_pipeline.executions("/emergency/close-all-positions") == 0
    assert ex.pd_events(fakes, "trigger") == []
    assert len(ex.slack_pages(fakes, CHANNEL)) == 1
    assert not any("ACTION NEEDED" in str(b) for b in ex.slack_posts(fakes))


async def test_failed_stop_raises_p1_to_p0(fakes: Any, fx_pipeline: Any, make_runbookd: Any) -> None:
    """A stop-trading refused by the API (400) fails for good: the incident becomes P0 and pages at once."""
    rb = await runbookd(make_runbookd, fakes, fx_pipeline, at=ex.WEEKEND)
    fx_pipeline.fail_next(1, 400, path="/emergency/stop-trading")
    await fire(rb, service="risk-manager")
    inc = await ex.only_incident(rb, "critical-path-down")
    assert inc["severity"] == "P0"
    outcomes = ex.step_outcomes(await ex.timeline(rb, inc["id"]))
    assert outcomes["stop-trading"] == "failed" and outcomes["verify-trading-stopped"] == "failed"
    assert outcomes["stop-new-positions"] == "ok"  # the playbook goes on
    assert len(ex.pd_events(fakes, "trigger", "default")) >= 1


async def test_stale_prices_stop_new_positions_for_the_pair(fakes: Any, fx_pipeline: Any,
                                                            make_runbookd: Any) -> None:
    """Stale EURUSD prices in market hours: P0, and new positions are stopped once, naming the pair."""
    rb = await runbookd(make_runbookd, fakes, fx_pipeline, at=ex.MARKET_HOURS)
    await fire(rb, "StalePriceData", symbol="EURUSD")
    await fire(rb, "StalePriceData", symbol="EURUSD")
    inc = await ex.only_incident(rb, "stale-price-data")
    assert inc["severity"] == "P0"
    assert fx_pipeline.executions("/emergency/stop-new-positions") == 1
    assert fx_pipeline.calls("/emergency/stop-new-positions")[0]["json"] == {
        "reason": "stale_price_data EURUSD", "incident": inc["id"]}
    assert fx_pipeline.trading_enabled  # trading itself goes on


async def test_risk_controls_candidate_in_shadow_sends_nothing(fakes: Any, fx_pipeline: Any,
                                                               make_runbookd: Any) -> None:
    """Degraded execution: the shadow risk controls send nothing; the active rule pages P1."""
    rb = await runbookd(make_runbookd, fakes, fx_pipeline)
    await fire(rb, "OrdersStuckPending")
    shadow = await ex.only_incident(rb, "execution-degraded-risk-controls")
    assert "rule.shadow" in [e["kind"] for e in await ex.timeline(rb, shadow["id"])]
    assert fx_pipeline.requests == []
    assert (fx_pipeline.size_factor, fx_pipeline.limit_factor) == (1.0, 1.0)
    assert len(ex.slack_pages(fakes, CHANNEL)) == 1


async def test_stale_prices_switch_to_the_backup_feed_once_and_verify_it(fakes: Any, fx_pipeline: Any,
                                                                         make_runbookd: Any) -> None:
    """The primary feed is stale and a backup is configured: the data-ingestor is switched to it once,
    and the step is ok only when fresh prices come from the backup."""
    rb = await runbookd(make_runbookd, fakes, fx_pipeline, at=ex.MARKET_HOURS)
    await fire(rb, "StalePriceData", symbol="EURUSD")
    inc = await ex.only_incident(rb, "stale-price-data")
    assert fx_pipeline.executions("/api/data-feed/switch") == 1
    assert fx_pipeline.calls("/api/data-feed/switch")[0]["json"]["feed"] == "backup"
    assert fx_pipeline.feed == "backup"
    assert ex.step_outcomes(await ex.timeline(rb, inc["id"]))["switch-to-backup-feed"] == "verifying"
    await rb.advance(10)  # the first read of the data-ingestor's freshness
    assert ex.step_outcomes(await ex.timeline(rb, inc["id"]))["switch-to-backup-feed"] == "ok"
    assert fx_pipeline.executions("/api/data-feed/switch") == 1


async def test_a_backup_feed_that_stays_stale_fails_and_pages(fakes: Any, fx_pipeline: Any,
                                                              make_runbookd: Any) -> None:
    """The backup answers but its prices are old too: after 2 minutes of checks the switch fails and
    pages ACTION NEEDED; it was sent once."""
    fx_pipeline.backup_age = 120.0
    rb = await runbookd(make_runbookd, fakes, fx_pipeline, at=ex.MARKET_HOURS)
    await fire(rb, "StalePriceData", symbol="EURUSD")
    inc = await ex.only_incident(rb, "stale-price-data")
    for _ in range(12):
        await rb.advance(10)
    assert ex.step_outcomes(await ex.timeline(rb, inc["id"]))["switch-to-backup-feed"] == "failed"
    assert fx_pipeline.executions("/api/data-feed/switch") == 1
    assert any("ACTION NEEDED" in str(b) and "switch-to-backup-feed" in str(b) for b in ex.slack_posts(fakes))


async def test_no_backup_feed_skips_the_switch(fakes: Any, fx_pipeline: Any, make_runbookd: Any) -> None:
    """No backup is configured: the switch is skipped (its if is false), nothing is sent, no page for it."""
    fx_pipeline.backup_available = False
    rb = await runbookd(make_runbookd, fakes, fx_pipeline, at=ex.MARKET_HOURS)
    await fire(rb, "StalePriceData", symbol="EURUSD")
    inc = await ex.only_incident(rb, "stale-price-data")
    assert ex.step_outcomes(await ex.timeline(rb, inc["id"]))["switch-to-backup-feed"] == "skipped"
    assert fx_pipeline.count("/api/data-feed/switch") == 0
    assert not any("switch-to-backup-feed" in str(b) for b in ex.slack_posts(fakes))
