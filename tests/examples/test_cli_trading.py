"""examples/cli-trading (seed 004): its rule unit tests pass, and the halt and security-breach paths run
end to end against the fake orchestrator admin API (X-Admin-Token), Slack and PagerDuty."""

from __future__ import annotations

from typing import Any

from tests.conftest import alert, payload
from tests.examples import conftest as ex
from tests.incidents.test_pipeline import RESOLVED

TOKEN = "cli-trading-admin-token"
HALT, UNHALT = "/admin/orchestrate/halt", "/admin/orchestrate/unhalt"


def env(cli: Any) -> dict[str, str]:
    return {"CLI_TRADING_API_URL": cli.url, "CLI_TRADING_ADMIN_TOKEN": TOKEN}


async def fire(rb: Any, name: str, **kw: Any) -> None:
    await ex.fire_alert(rb, name, job="orchestrator", **kw)


def test_unit_tests_pass() -> None:
    """`runbookd test examples/cli-trading/rules/tests/*.yml` succeeds."""
    ex.assert_unit_tests_pass("cli-trading")


async def test_fake_executes_each_idempotency_key_once(cli_trading: Any) -> None:
    """The CLI-Trading fake counts executions once per Idempotency-Key."""
    await ex.assert_key_executes_once(cli_trading, HALT, {"X-Admin-Token": TOKEN}, {"reason": "emergency_stop"})


async def test_daily_loss_limit_halt_is_p0_and_never_unhalted(fakes: Any, cli_trading: Any,
                                                              make_runbookd: Any) -> None:
    """The orchestrator halted on its daily loss limit: runbookd confirms the halt once with that reason
    and X-Admin-Token, reads it back, pages once; re-sends change nothing; resolving never unhalts."""
    cli_trading.halt_on_its_own("daily_loss_limit", pnl=-2500.0)
    rb = await ex.example_runbookd(make_runbookd, fakes, "cli-trading", env(cli_trading))
    await fire(rb, "TradingSystemHalted", halt_reason="daily_loss_limit")
    inc = await ex.only_incident(rb, "halted-daily-loss-limit")
    assert inc["severity"] == "P0"
    assert cli_trading.executions(HALT) == 1
    halt = cli_trading.calls(HALT)[0]
    assert halt["headers"]["X-Admin-Token"] == TOKEN
    assert halt["json"] == {"reason": "daily_loss_limit"}
    assert cli_trading.count("/pnl/status", "GET") == 1
    assert ex.step_outcomes(await ex.timeline(rb, inc["id"])) == {
        "confirm-halt": "ok", "check-halt-reason": "ok", "tell-management": "ok"}
    assert len(ex.pd_events(fakes, "trigger", "default")) == 1
    assert len(ex.slack_pages(fakes, "#trading-critical")) == 1

    for _ in range(3):
        await fire(rb, "TradingSystemHalted", halt_reason="daily_loss_limit")
    assert cli_trading.executions(HALT) == 1
    assert len(ex.pd_events(fakes, "trigger", "default")) == 1
    assert len(ex.slack_pages(fakes, "#trading-critical")) == 1

    await rb.post_alerts(payload(alert("TradingSystemHalted", job="orchestrator", halt_reason="daily_loss_limit",
                                       **RESOLVED)))
    await rb.advance(60)
    assert cli_trading.count(UNHALT) == 0
    assert (cli_trading.halted, cli_trading.halt_reason) == (True, "daily_loss_limit")
    assert any("stays halted" in str(b) for b in ex.slack_posts(fakes, "#trading-critical"))


async def test_daily_target_halt_is_normal_operation(fakes: Any, cli_trading: Any, make_runbookd: Any) -> None:
    """daily_target_reached: P3 in #trading-alerts, no call to the orchestrator, nobody paged."""
    cli_trading.halt_on_its_own("daily_target_reached", pnl=1600.0)
    rb = await ex.example_runbookd(make_runbookd, fakes, "cli-trading", env(cli_trading))
    await fire(rb, "TradingSystemHalted", halt_reason="daily_target_reached")
    inc = await ex.only_incident(rb, "halted-daily-target")
    assert inc["severity"] == "P3"
    assert cli_trading.requests == []
    assert ex.pd_events(fakes, "trigger") == []
    assert len(ex.slack_pages(fakes, "#trading-alerts")) == 1


async def test_security_breach_halts_at_once_and_contains_only_with_approval(
        fakes: Any, cli_trading: Any, make_runbookd: Any) -> None:
    """Halt once (reason security_incident) and alert #security-immediate at once; blocking access waits
    for the security on-call (others get 403) and is rejected; rotating secrets times out to reject.
    No containment command runs, and each refusal pages."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "cli-trading", env(cli_trading))
    await fire(rb, "UnauthorizedAccess", source_ip="203.0.113.7")
    inc = await ex.only_incident(rb, "security-breach")
    assert cli_trading.executions(HALT) == 1
    assert cli_trading.calls(HALT)[0]["json"] == {"reason": "security_incident"}
    assert cli_trading.halt_reason == "security_incident"
    security = [str(b) for b in ex.slack_posts(fakes, "#security-immediate")]
    assert any("SECURITY INCIDENT UnauthorizedAccess" in t for t in security)
    assert any("block-external-access" in t for t in security)  # the approval request

    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/approve", {"step": "block-external-access", "by": "mallory"})
    assert r.status == 403
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/reject",
                          {"step": "block-external-access", "by": "security-oncall"})
    assert r.status == 200, await r.text()
    await rb.run()
    await rb.advance(600)
    events = await ex.timeline(rb, inc["id"])
    outcomes = ex.step_outcomes(events)
    assert outcomes["halt-trading"] == "ok" and outcomes["notify-security"] == "ok"
    assert outcomes["block-external-access"] == "rejected" and outcomes["rotate-secrets"] == "rejected"
    kinds = [e["kind"] for e in events]
    assert "approval.refused" in kinds and "approval.rejected" in kinds and "approval.timeout" in kinds
    assert "step.started" not in [e["kind"] for e in events if e["data"].get("action") == "command"]
    assert sum("ACTION NEEDED" in str(b) for b in ex.slack_posts(fakes)) >= 2
    assert cli_trading.executions(HALT) == 1 and cli_trading.count(UNHALT) == 0


async def test_agent_restart_candidate_renders_one_argument_and_runs_nothing(
        fakes: Any, cli_trading: Any, make_runbookd: Any) -> None:
    """Shadow: the agent label with shell metacharacters is one argv item on the timeline; nothing runs
    and nothing is sent; the active P1 rule pages #trading-critical."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "cli-trading", env(cli_trading))
    await fire(rb, "AgentDown", agent="risk-manager; rm -rf /")
    shadow = await ex.only_incident(rb, "agent-restart-candidate")
    [dry] = [e for e in await ex.timeline(rb, shadow["id"]) if e["kind"] == "step.dry_run"]
    assert dry["data"]["argv"][-1] == "risk-manager; rm -rf /"
    assert cli_trading.requests == []
    assert (await ex.only_incident(rb, "agent-down"))["severity"] == "P1"
    assert len(ex.slack_pages(fakes, "#trading-critical")) == 1


async def test_complete_outage_halts_snapshots_status_and_pages(fakes: Any, cli_trading: Any,
                                                               make_runbookd: Any) -> None:
    """CompleteSystemOutage is P0 (not the catch-all P3): halted once with reason system_outage, the
    orchestrator's status is kept on the timeline as evidence, PagerDuty and #trading-critical are paged."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "cli-trading", env(cli_trading))
    await ex.fire_alert(rb, "CompleteSystemOutage", job="blackbox")
    inc = await ex.only_incident(rb, "complete-system-outage")
    assert inc["severity"] == "P0"
    ex.assert_executed_once(cli_trading, HALT)
    assert cli_trading.calls(HALT)[0]["json"] == {"reason": "system_outage"}
    assert (cli_trading.halted, cli_trading.halt_reason) == (True, "system_outage")
    events = await ex.timeline(rb, inc["id"])
    snap = [e for e in events if e["kind"] == "step.ok" and e["data"]["step"] == "snapshot-status"]
    assert snap and snap[0]["data"]["json"]["haltReason"] == "system_outage"
    evidence = [e for e in events if e["kind"] == "step.ok" and e["data"]["step"] == "record-evidence"]
    assert '"haltReason": "system_outage"' in evidence[0]["message"]
    assert len(ex.pd_events(fakes, "trigger")) == 1
    assert any("complete system outage" in str(b) and "halt ok" in str(b)
               for b in ex.slack_posts(fakes, "#trading-critical"))


async def test_an_unreachable_orchestrator_is_recorded_and_still_paged(fakes: Any, make_runbookd: Any) -> None:
    """Nothing answers (the outage itself): the halt fails and pages ACTION NEEDED, the failed snapshot is
    on the timeline as evidence, and the P0 page goes out."""
    rb = await ex.example_runbookd(make_runbookd, fakes, "cli-trading",
                                   {"CLI_TRADING_API_URL": "http://127.0.0.1:9", "CLI_TRADING_ADMIN_TOKEN": TOKEN})
    await ex.fire_alert(rb, "CompleteSystemOutage", job="blackbox")
    inc = await ex.only_incident(rb, "complete-system-outage")
    for _ in range(6):  # the runner's own retries of each step, 2 s and 4 s apart
        await rb.advance(10)
    outcomes = ex.step_outcomes(await ex.timeline(rb, inc["id"]))
    assert outcomes["halt"] == "failed" and outcomes["snapshot-status"] == "failed"
    assert outcomes["record-evidence"] == "ok"
    assert len(ex.pd_events(fakes, "trigger")) == 2  # the P0 page and the failed halt's ACTION NEEDED
    assert any("ACTION NEEDED" in str(b) and "'halt'" in str(b) for b in ex.slack_posts(fakes))
