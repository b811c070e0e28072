"""Safe automation against the fakes: approvals, shadow mode, pause, budgets, cooldown, failure paging."""

from __future__ import annotations

from typing import Any

from tests.conftest import TESTDATA, alert, payload
from tests.incidents.test_pipeline import RESOLVED, _p, pd_events

RULES = [str(TESTDATA / "rules" / "safety.yml")]


async def make(make_runbookd: Any, fakes: Any, **kw: Any) -> Any:
    return await make_runbookd(fakes, rule_files=RULES, **kw)


async def fire(rb: Any, name: str, fp: str = "00000000000000a1", **labels: str) -> dict[str, Any]:
    await rb.post_alerts(payload(alert(name, fingerprint=fp, **labels)))
    await rb.run()
    return next(i for i in await rb.api("/api/v1/incidents") if fp in [a["fingerprint"] for a in i["alerts"]])


async def kinds(rb: Any, incident_id: str) -> list[str]:
    return [e["kind"] for e in (await rb.api(f"/api/v1/incidents/{incident_id}"))["timeline"]]


def slack_texts(fakes: Any) -> list[str]:
    return [str(_p(r)) for r in fakes.slack.calls("/api/chat.postMessage")]


def approvals_posted(fakes: Any) -> list[dict[str, Any]]:
    return [_p(r) for r in fakes.slack.calls("/api/chat.postMessage") if "step_approve" in str(_p(r))]


async def test_approval_granted_runs_the_step(fakes: Any, make_runbookd: Any) -> None:
    """The step waits; Approve buttons are posted; approved by a listed approver, it runs once."""
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "NeedsApproval")
    assert fakes.trading.count("/admin/orchestrate/halt") == 0
    assert len(approvals_posted(fakes)) == 1
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/approve", {"step": "halt", "by": "alice"})
    assert r.status == 200, await r.text()
    await rb.run()
    assert fakes.trading.count("/admin/orchestrate/halt") == 1
    k = await kinds(rb, inc["id"])
    assert k.index("approval.requested") < k.index("approval.approved") < k.index("step.ok")
    again = await rb.api_post(f"/api/v1/incidents/{inc['id']}/approve", {"step": "halt", "by": "alice"})
    assert again.status == 404  # nothing waits any more


async def test_approval_rejected_skips_and_pages(fakes: Any, make_runbookd: Any) -> None:
    """Rejected: the step never runs, the rejection is on the timeline and the incident is paged."""
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "NeedsApproval")
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/reject", {"step": 0, "by": "alice"})
    assert r.status == 200
    await rb.run()
    assert fakes.trading.count() == 0
    k = await kinds(rb, inc["id"])
    assert "approval.rejected" in k and "step.rejected" in k
    assert any("ACTION NEEDED" in t and "rejected" in t for t in slack_texts(fakes))


async def test_only_listed_approvers_may_answer(fakes: Any, make_runbookd: Any) -> None:
    """Someone not in approvers gets 403 and the step keeps waiting."""
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "NeedsApproval")
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/approve", {"step": "halt", "by": "mallory"})
    assert r.status == 403
    await rb.run()
    assert fakes.trading.count() == 0
    assert "approval.refused" in await kinds(rb, inc["id"])


async def test_approval_timeout_applies_approve_default(fakes: Any, make_runbookd: Any) -> None:
    """No answer within 10 minutes: on_timeout approve runs the protective step."""
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "NeedsApproval")
    await rb.advance(599)
    assert fakes.trading.count() == 0
    await rb.advance(1)
    assert fakes.trading.count("/admin/orchestrate/halt") == 1
    assert "approval.timeout" in await kinds(rb, inc["id"])


async def test_approval_timeout_applies_reject_default(fakes: Any, make_runbookd: Any) -> None:
    """No answer within 5 minutes: on_timeout reject never closes the positions."""
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Risky")
    await rb.advance(301)
    assert fakes.alpaca.count("/v2/positions", "DELETE") == 0
    k = await kinds(rb, inc["id"])
    assert "approval.timeout" in k and "step.rejected" in k


async def test_shadow_rule_sends_nothing_anywhere(fakes: Any, make_runbookd: Any) -> None:
    """A shadow rule matches, renders and records everything, and no fake receives any request — not
    at opening, not for updates, not when it resolves."""
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "ShadowMe")
    await rb.advance(3600)
    await rb.post_alerts(payload(alert("ShadowMe", fingerprint="00000000000000a1", **RESOLVED)))
    await rb.run()
    assert fakes.trading.count() == fakes.slack.count() == fakes.pagerduty.count() == fakes.alpaca.count() == 0
    k = await kinds(rb, inc["id"])
    assert "rule.shadow" in k and "step.dry_run" in k and "notify.shadow" in k


async def test_pause_skips_steps_and_pages_instead(fakes: Any, make_runbookd: Any) -> None:
    """While paused, steps are skipped and the incident is paged; after resume new incidents run."""
    rb = await make(make_runbookd, fakes)
    r = await rb.api_post("/api/v1/automation/pause", {"by": "ops", "reason": "broker maintenance"})
    assert (await r.json())["paused"] is True
    inc = await fire(rb, "Halting")
    assert fakes.trading.count() == 0
    assert "step.skipped" in await kinds(rb, inc["id"])
    assert any("ACTION NEEDED" in t and "paused" in t for t in slack_texts(fakes))
    assert (await (await rb.api_post("/api/v1/automation/resume")).json())["paused"] is False
    await fire(rb, "Fragile", fp="00000000000000b2")
    assert fakes.trading.count("/admin/orchestrate/halt") == 1


async def test_rule_rate_limit_allows_one_flatten_per_hour(fakes: Any, make_runbookd: Any) -> None:
    """At most one flatten per hour for the rule: the second incident's playbook is skipped and paged."""
    rb = await make(make_runbookd, fakes)
    await fire(rb, "LossLimit", account="a")
    inc2 = await fire(rb, "LossLimit", fp="00000000000000b2", account="b")
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1
    assert fakes.alpaca.count("/v2/positions", "DELETE") == 1  # the whole second playbook is skipped
    k = await kinds(rb, inc2["id"])
    assert "step.skipped" in k and "playbook.stopped" in k
    assert any("rate limit of rule 'flatten'" in t for t in slack_texts(fakes))
    rb.clock.advance(3601)
    await fire(rb, "LossLimit", fp="00000000000000c3", account="c")
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 2


async def test_global_destructive_budget_stops_execution(fakes: Any, make_runbookd: Any) -> None:
    """With a budget of 1 destructive action per hour, the second is skipped and paged."""
    rb = await make(make_runbookd, fakes, automation={"destructive_budget": {"max": 1, "per": "1h"}})
    inc = await fire(rb, "LossLimit", account="a")
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1
    assert fakes.alpaca.count("/v2/positions", "DELETE") == 0
    assert any("destructive budget" in t for t in slack_texts(fakes))
    assert "step.skipped" in await kinds(rb, inc["id"])


async def test_cooldown_per_identity(fakes: Any, make_runbookd: Any) -> None:
    """A new incident of the same identity within the cooldown does not run the playbook again."""
    rb = await make(make_runbookd, fakes)
    await fire(rb, "Cooled")
    await rb.post_alerts(payload(alert("Cooled", fingerprint="00000000000000a1", **RESOLVED)))
    await rb.run()
    rb.clock.advance(1200)  # past the reopen window: a new incident, same identity
    await fire(rb, "Cooled", fp="00000000000000a1", starts_at="2026-11-22T03:00:00Z")
    assert fakes.trading.count("/admin/orchestrate/halt") == 1


async def test_failed_protective_step_raises_severity_and_pages(fakes: Any, make_runbookd: Any) -> None:
    """A halt that fails for good raises P1 to P0 and pages the P0 policy at once; the playbook goes on."""
    rb = await make(make_runbookd, fakes)
    fakes.trading.fail_next(1, 400)
    inc = await fire(rb, "Fragile")
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    assert detail["severity"] == "P0"
    k = [e["kind"] for e in detail["timeline"]]
    assert "step.failed" in k and "incident.severity_raised" in k and k.count("step.ok") == 1
    assert len(pd_events(fakes, "trigger")) == 1


async def test_wait_for_resolved_escalates_when_still_firing(fakes: Any, make_runbookd: Any) -> None:
    """wait_for_resolved waits 10 minutes without sleeping, then fails and pages; notify runs after."""
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Waiting")
    await rb.advance(599)
    assert "step.failed" not in await kinds(rb, inc["id"])
    await rb.advance(15)
    k = await kinds(rb, inc["id"])
    assert "step.failed" in k
    assert any("still firing after 10 minutes" in t for t in slack_texts(fakes))


async def test_wait_for_resolved_succeeds_when_resolved(fakes: Any, make_runbookd: Any) -> None:
    """Resolved during the wait: the step succeeds and nothing is paged for it."""
    rb = await make(make_runbookd, fakes)
    inc = await fire(rb, "Waiting")
    await rb.post_alerts(payload(alert("Waiting", fingerprint="00000000000000a1", **RESOLVED)))
    await rb.advance(20)
    k = await kinds(rb, inc["id"])
    assert "step.failed" not in k and k.count("step.ok") == 1 and "playbook.stopped" in k
    assert not any("still firing after 10 minutes" in t for t in slack_texts(fakes))


async def test_resolved_is_not_undo(fakes: Any, make_runbookd: Any) -> None:
    """on_resolved notify: the resolution says protective actions stay in force; nothing is re-armed."""
    rb = await make(make_runbookd, fakes)
    await fire(rb, "Halting")
    await rb.post_alerts(payload(alert("Halting", fingerprint="00000000000000a1", **RESOLVED)))
    await rb.run()
    assert any("stay in force" in t for t in slack_texts(fakes))
    assert fakes.trading.count() == 1


async def test_severity_during_market_hours(fakes: Any, make_runbookd: Any) -> None:
    """A critical-path failure is P1 outside market hours and P0 inside them (seed 002)."""
    rb = await make(make_runbookd, fakes)  # 2027-01-15 08:00 UTC: Friday 03:00 in New York
    night = await fire(rb, "CriticalPathDown")
    assert night["severity"] == "P1"
    await rb.post_alerts(payload(alert("CriticalPathDown", fingerprint="00000000000000a1", **RESOLVED)))
    await rb.run()
    rb.clock.advance(7 * 3600)  # 15:00 UTC = 10:00 New York
    day = await fire(rb, "CriticalPathDown", fp="00000000000000b2", starts_at="2026-11-22T03:00:00Z")
    assert day["severity"] == "P0"


async def test_preconditions_skip_or_run_as_declared(fakes: Any, make_runbookd: Any) -> None:
    """Outside hours and with the market closed the guarded steps are skipped; an unreadable broker
    runs the fail-open step and skips the fail-closed one."""
    rb = await make(make_runbookd, fakes)
    fakes.alpaca.market_open = False
    inc = await fire(rb, "CriticalPathDown")
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    msgs = [e["message"] for e in detail["timeline"] if e["kind"] == "step.skipped"]
    assert any("outside time interval 'market-hours'" in m for m in msgs)
    assert any("market is closed" in m for m in msgs)
    assert fakes.alpaca.count("/v2/positions/SPY", "DELETE") == 0
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1  # 3 open orders: the precondition holds


async def test_broker_check_failure_obeys_on_error(fakes: Any, make_runbookd: Any) -> None:
    """When the broker cannot be read, on_error: skip is fail-closed and on_error: run is fail-open."""
    rb = await make(make_runbookd, fakes)
    fakes.alpaca.fail_next(20, 500)
    inc = await fire(rb, "CriticalPathDown")
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    pre = [e["message"] for e in detail["timeline"] if e["kind"] == "step.precondition"]
    assert any("fail-closed" in m for m in pre) and any("fail-open" in m for m in pre)
