"""examples/omni-alpha (seed 000): its rule unit tests pass, and the P0 emergency shutdown runs end to end
against the fake Omni Alpha admin API, fake Alpaca, Slack and PagerDuty."""

from __future__ import annotations

from typing import Any

from tests.examples import conftest as ex
from tests.incidents.test_pipeline import RESOLVED

TOKEN = "omni-alpha-emergency-token"
SHUTDOWN = ("/admin/trading/emergency-stop", "/admin/circuit-breakers/enable-all", "/admin/data/stop-feeds")


def env(omni: Any) -> dict[str, str]:
    return {"OMNI_ALPHA_API_URL": omni.url, "OMNI_ALPHA_EMERGENCY_TOKEN": TOKEN}


async def fire(rb: Any, name: str = "TradingSystemDown", **kw: Any) -> None:
    await ex.fire_alert(rb, name, severity="P0", **kw)


def test_unit_tests_pass() -> None:
    """`runbookd test examples/omni-alpha/rules/tests/*.yml` succeeds."""
    ex.assert_unit_tests_pass("omni-alpha")


async def test_fake_executes_each_idempotency_key_once(omni_alpha: Any) -> None:
    """The Omni Alpha fake counts executions once per Idempotency-Key."""
    await ex.assert_key_executes_once(omni_alpha, "/admin/trading/emergency-stop",
                                      {"Authorization": f"Bearer {TOKEN}"}, {"reason": "emergency_shutdown"})


async def test_trading_down_runs_the_emergency_shutdown_once(fakes: Any, omni_alpha: Any,
                                                             make_runbookd: Any) -> None:
    """TradingSystemDown: stop trading, breakers, feeds and cancel run at once with the literal values;
    the flatten waits for the desk's approval and runs once approved; re-sends change nothing."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "omni-alpha", env(omni_alpha))
    await fire(rb)
    inc = await ex.only_incident(rb, "trading-system-down")
    assert inc["severity"] == "P0"
    ex.assert_executed_once(omni_alpha, *SHUTDOWN)
    stop = omni_alpha.calls("/admin/trading/emergency-stop")[0]
    assert stop["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert stop["headers"]["Idempotency-Key"].startswith(f"runbookd-{inc['id']}-")
    assert stop["json"] == {"reason": "emergency_shutdown", "initiated_by": "incident_response",
                            "alert": "TradingSystemDown", "incident": inc["id"]}
    assert omni_alpha.calls("/admin/data/stop-feeds")[0]["json"] == {
        "reason": "emergency_shutdown", "initiated_by": "incident_response", "incident": inc["id"]}
    assert (omni_alpha.trading, omni_alpha.breakers_enabled, omni_alpha.feeds_running) == ("stopped", True, False)
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1
    # "Close all positions (if safe to do so)": nothing is closed before a person says so.
    assert fakes.alpaca.count("/v2/positions", "DELETE") == 0
    assert any("close-positions" in str(b) for b in ex.slack_posts(fakes, "#critical"))
    # The page went out once: PagerDuty and #critical.
    assert len(ex.pd_events(fakes, "trigger", "default")) == 1
    assert len(ex.slack_pages(fakes, "#critical")) == 1

    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/approve", {"step": "close-positions",
                                                                     "by": "trading-desk-lead"})
    assert r.status == 200, await r.text()
    await rb.run()
    assert fakes.alpaca.count("/v2/positions", "DELETE") == 1
    assert fakes.alpaca.positions == []

    for _ in range(3):  # Alertmanager re-sends the group every group_interval
        await fire(rb)
    ex.assert_executed_once(omni_alpha, *SHUTDOWN)
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1
    assert fakes.alpaca.count("/v2/positions", "DELETE") == 1
    assert len(ex.pd_events(fakes, "trigger", "default")) == 1
    assert len(ex.slack_pages(fakes, "#critical")) == 1
    outcomes = ex.step_outcomes(await ex.timeline(rb, inc["id"]))
    assert outcomes == {"stop-trading": "ok", "enable-circuit-breakers": "ok", "stop-data-feeds": "ok",
                        "cancel-orders": "ok", "close-positions": "ok", "record-shutdown": "ok"}
    # Nobody acknowledged within the P0 response target (seed 000: 5 minutes): the breach pages the
    # policy's next step, the senior engineers' PagerDuty service (planned at 10 minutes), at once.
    await rb.advance(299)
    assert ex.pd_events(fakes, "trigger", "senior") == []
    await rb.advance(1)
    assert len(ex.pd_events(fakes, "trigger", "senior")) == 1


async def test_unanswered_flatten_is_not_done_and_escalates(fakes: Any, omni_alpha: Any, make_runbookd: Any) -> None:
    """No answer in 5 minutes: positions stay open (on_timeout: reject) and the rejection pages the whole
    P0 matrix at once, senior engineers included; resolving keeps the shutdown in force."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "omni-alpha", env(omni_alpha))
    await fire(rb)
    inc = await ex.only_incident(rb, "trading-system-down")
    await rb.advance(301)
    assert fakes.alpaca.count("/v2/positions", "DELETE") == 0
    events = await ex.timeline(rb, inc["id"])
    assert "approval.timeout" in [e["kind"] for e in events]
    assert ex.step_outcomes(events)["close-positions"] == "rejected"
    assert any("ACTION NEEDED" in str(b) and "close-positions" in str(b) for b in ex.slack_posts(fakes))
    assert len(ex.pd_events(fakes, "trigger", "senior")) == 1  # at 5 minutes, not 10

    await fire(rb, **RESOLVED)
    assert (await ex.only_incident(rb, "trading-system-down"))["status"] == "resolved"
    assert omni_alpha.executions("/admin/trading/resume") == 0
    assert omni_alpha.trading == "stopped"
    assert any("stay in force" in str(b) for b in ex.slack_posts(fakes, "#critical"))


async def test_database_failover_candidate_in_shadow_runs_and_sends_nothing(fakes: Any, omni_alpha: Any,
                                                                          make_runbookd: Any) -> None:
    """The shadow failover rule records what it would do; only the active P1 rule pages (#alerts)."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "omni-alpha", env(omni_alpha))
    await fire(rb, "DatabaseConnectionFailure", job="risk-engine")
    shadow = await ex.only_incident(rb, "database-failover-candidate")
    kinds = [e["kind"] for e in await ex.timeline(rb, shadow["id"])]
    assert "rule.shadow" in kinds and "approval.shadow" in kinds and "step.dry_run" in kinds
    assert omni_alpha.requests == [] and fakes.alpaca.count() == 0
    assert len(ex.slack_pages(fakes, "#alerts")) == 1
    assert ex.slack_pages(fakes, "#critical") == []
    assert (await ex.only_incident(rb, "database-connection-failure"))["severity"] == "P1"


async def test_security_breach_stops_trading_revokes_keys_and_pages_security(fakes: Any, omni_alpha: Any,
                                                                            make_runbookd: Any) -> None:
    """UnauthorizedAccess is P0: trading stopped and every API key revoked, once each; #security and
    security@ are told how many keys were revoked; PagerDuty is paged."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "omni-alpha", env(omni_alpha))
    await ex.fire_alert(rb, "UnauthorizedAccess", job="api-gateway")
    inc = await ex.only_incident(rb, "security-breach")
    assert inc["severity"] == "P0"
    ex.assert_executed_once(omni_alpha, "/admin/trading/emergency-stop", "/admin/security/revoke-api-keys")
    assert omni_alpha.calls("/admin/security/revoke-api-keys")[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert (omni_alpha.trading, omni_alpha.api_keys) == ("stopped", [])
    told = [str(b) for b in ex.slack_posts(fakes, "#security")]
    assert any("trading stopped" in t and "3 API keys revoked" in t for t in told)
    assert len(ex.pd_events(fakes, "trigger")) == 1


async def _resolved_shutdown(fakes: Any, omni_alpha: Any, make_runbookd: Any) -> Any:
    rb = await ex.example_runbookd(make_runbookd, fakes, "omni-alpha", env(omni_alpha))
    await fire(rb)
    await fire(rb, **RESOLVED)
    return rb


async def test_a_resolution_is_held_15_minutes_before_it_is_declared(fakes: Any, omni_alpha: Any,
                                                                    make_runbookd: Any) -> None:
    """Resolved: #critical hears "stayed clear for 15 minutes" at 15 minutes, not before."""
    rb = await _resolved_shutdown(fakes, omni_alpha, make_runbookd)
    await rb.advance(15 * 60 - 1)
    assert not any("stayed clear for 15 minutes" in str(b) for b in ex.slack_posts(fakes, "#critical"))
    await rb.advance(1)
    assert any("stayed clear for 15 minutes" in str(b) for b in ex.slack_posts(fakes, "#critical"))
    assert not any("fired again within 15 minutes" in str(b) for b in ex.slack_posts(fakes, "#critical"))


async def test_a_refire_during_the_hold_says_not_resolved(fakes: Any, omni_alpha: Any, make_runbookd: Any) -> None:
    """The alert fires again 5 minutes after clearing: at the end of the hold #critical is told it is
    not resolved, and never that it may be declared resolved."""
    rb = await _resolved_shutdown(fakes, omni_alpha, make_runbookd)
    await rb.advance(5 * 60)
    await fire(rb, starts_at="2026-11-22T02:10:00Z")  # a new firing of the same alert
    assert (await ex.only_incident(rb, "trading-system-down"))["status"] != "resolved"
    await rb.advance(10 * 60)
    posts = [str(b) for b in ex.slack_posts(fakes, "#critical")]
    assert any("fired again within 15 minutes" in t for t in posts)
    assert not any("stayed clear for 15 minutes" in t for t in posts)
