"""The whole path in one process: webhook → store → rules → incident → playbook → pages.

Real SQLite, the real slack-sdk / pagerduty / alpaca-py / httpx clients against the fakes, and a
fake clock moved by hand.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import TRADING_TOKEN, alert, payload

RESOLVED = dict(status="resolved", ends_at="2026-11-22T01:47:32Z")


def top_level_pages(fakes: Any, channel: str) -> list[dict[str, Any]]:
    return [r for r in fakes.slack.calls("/api/chat.postMessage")
            if _p(r).get("channel") == channel and not _p(r).get("thread_ts")]


def _p(r: dict[str, Any]) -> dict[str, Any]:
    return r.get("json") or r.get("form") or {}


def pd_events(fakes: Any, action: str) -> list[dict[str, Any]]:
    return [r["json"] for r in fakes.pagerduty.calls("/v2/enqueue") if r["json"]["event_action"] == action]


async def test_firing_alert_runs_playbook_and_pages_once(fakes: Any, make_runbookd: Any) -> None:
    """A P0 alert: every step runs once, PagerDuty is triggered once and #critical paged once."""
    rb = await make_runbookd(fakes)
    r = await rb.post_alerts(payload(alert()))
    assert r.status == 200
    await rb.run()
    assert fakes.trading.count("/admin/trading/emergency-stop") == 1
    assert fakes.trading.count("/admin/circuit-breakers/enable-all") == 1
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1
    assert len(pd_events(fakes, "trigger")) == 1
    assert len(top_level_pages(fakes, "#critical")) == 1
    stop = fakes.trading.calls("/admin/trading/emergency-stop")[0]
    assert stop["headers"]["Authorization"] == f"Bearer {TRADING_TOKEN}"
    [inc] = await rb.api("/api/v1/incidents")
    assert (inc["rule"], inc["severity"], inc["status"]) == ("trading-down", "P0", "firing")
    assert inc["labels"] == {"alertname": "TradingSystemDown", "job": "trading-engine"}


async def test_resent_alert_is_the_same_alert(fakes: Any, make_runbookd: Any) -> None:
    """Alertmanager re-sending the group (same fingerprint and startsAt) changes nothing."""
    rb = await make_runbookd(fakes)
    for _ in range(4):
        assert (await rb.post_alerts(payload(alert()))).status == 200
        await rb.run()
    assert fakes.trading.count("/admin/trading/emergency-stop") == 1
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 1
    assert len(pd_events(fakes, "trigger")) == 1
    assert len(top_level_pages(fakes, "#critical")) == 1
    assert len(await rb.api("/api/v1/incidents")) == 1


async def test_resolve_resolves_pages(fakes: Any, make_runbookd: Any) -> None:
    """When every alert resolves: PagerDuty resolve with the trigger's dedup key, Slack resolution."""
    rb = await make_runbookd(fakes)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    rb.clock.advance(60)
    await rb.post_alerts(payload(alert(**RESOLVED)))
    await rb.run()
    [trigger], [resolve] = pd_events(fakes, "trigger"), pd_events(fakes, "resolve")
    assert resolve["dedup_key"] == trigger["dedup_key"]
    replies = [r for r in fakes.slack.calls("/api/chat.postMessage") if _p(r).get("thread_ts")]
    assert any("RESOLVED" in str(_p(r)) for r in replies)
    [inc] = await rb.api("/api/v1/incidents?status=resolved")
    assert inc["resolved_at"] is not None
    # Resolved is not undo: no step ran again and nothing was re-armed.
    assert fakes.trading.count() == 2


async def test_stale_firing_after_resolved_changes_nothing(fakes: Any, make_runbookd: Any) -> None:
    """An HA peer's late 'firing' for the same fingerprint and startsAt never reopens the incident."""
    rb = await make_runbookd(fakes)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    await rb.post_alerts(payload(alert(**RESOLVED)))
    await rb.run()
    await rb.post_alerts(payload(alert()))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    assert inc["status"] == "resolved"
    assert len(pd_events(fakes, "trigger")) == 1


async def test_escalation_step_fires_when_due_and_not_before(fakes: Any, make_runbookd: Any) -> None:
    """The 5-minute step pages the secondary PagerDuty service only once 5 minutes have passed."""
    rb = await make_runbookd(fakes)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    await rb.advance(299)
    assert len(pd_events(fakes, "trigger")) == 1
    await rb.advance(1)
    triggers = pd_events(fakes, "trigger")
    assert [t["routing_key"] for t in triggers] == ["R" * 32, "S" * 32]
    await rb.advance(3600)
    assert len(pd_events(fakes, "trigger")) == 2


async def test_resolved_before_escalation_cancels_it(fakes: Any, make_runbookd: Any) -> None:
    """An incident that resolves before the 5-minute step never pages the secondary."""
    rb = await make_runbookd(fakes)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    await rb.post_alerts(payload(alert(**RESOLVED)))
    await rb.advance(600)
    assert [t["routing_key"] for t in pd_events(fakes, "trigger")] == ["R" * 32]


async def test_timeline_records_steps_with_rendered_params(fakes: Any, make_runbookd: Any) -> None:
    """Each step's rendered parameters and outcome are on the timeline; secrets are redacted."""
    rb = await make_runbookd(fakes)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[:3] == ["alert.firing", "rule.matched", "incident.opened"]
    assert kinds.count("step.ok") == 4
    started = [e for e in detail["timeline"] if e["kind"] == "step.started"]
    first = started[0]["data"]["params"]
    assert first["url"] == f"{fakes.trading.url}/admin/trading/emergency-stop"
    assert first["headers"]["Authorization"] == "Bearer <redacted>"
    assert first["json"]["incident"] == inc["id"]
    assert TRADING_TOKEN not in str(detail)
    assert any(e["kind"] == "notify.ok" and e["data"]["receiver"] == "pagerduty-primary" for e in detail["timeline"])


async def test_label_values_are_data_not_templates(fakes: Any, make_runbookd: Any) -> None:
    """A label with template syntax and shell metacharacters reaches the trading system literally."""
    rb = await make_runbookd(fakes)
    nasty = "{{ 7*7 }}; rm -rf / `id` $(whoami) " + "x" * 10_000
    await rb.post_alerts(payload(alert(detail=nasty)))
    await rb.run()
    body = fakes.trading.calls("/admin/trading/emergency-stop")[0]["json"]
    assert body["detail"] == nasty


async def test_dry_run_records_but_sends_no_writes(fakes: Any, make_runbookd: Any) -> None:
    """dry_run: steps are rendered and recorded as dry-run; the broker and trading system see nothing."""
    rb = await make_runbookd(fakes, dry_run=True)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    assert fakes.trading.count() == 0
    assert fakes.alpaca.count("/v2/orders", "DELETE") == 0
    [inc] = await rb.api("/api/v1/incidents")
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("step.dry_run") == 3  # the log step has no side effect and runs for real
    assert kinds.count("step.ok") == 1
    page = top_level_pages(fakes, "#critical")[0]
    assert "DRY-RUN" in str(_p(page)).upper()


async def test_unmatched_alert_opens_catch_all_incident(fakes: Any, make_runbookd: Any) -> None:
    """An alert no rule matches is never dropped: it opens a catch-all incident at default severity."""
    rb = await make_runbookd(fakes)
    await rb.post_alerts(payload(alert("SomethingNew", fingerprint="ffff000011112222")))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    assert (inc["rule"], inc["severity"]) == ("catch-all", "P3")
    assert len(top_level_pages(fakes, "#monitoring")) == 1


async def test_new_alert_joins_open_incident(fakes: Any, make_runbookd: Any) -> None:
    """A second alert with the same identity joins the incident; it resolves only when both have."""
    rb = await make_runbookd(fakes)
    a1 = alert(instance="engine-1:8000")
    a2 = alert(instance="engine-2:8000", fingerprint="0000111122223333")
    await rb.post_alerts(payload(a1))
    await rb.run()
    await rb.post_alerts(payload(a1, a2))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    assert len(inc["alerts"]) == 2
    await rb.post_alerts(payload(alert(instance="engine-1:8000", **RESOLVED), a2))
    await rb.run()
    assert (await rb.api("/api/v1/incidents"))[0]["status"] == "firing"
    await rb.post_alerts(payload(alert(instance="engine-1:8000", **RESOLVED),
                                 alert(instance="engine-2:8000", fingerprint="0000111122223333", **RESOLVED)))
    await rb.run()
    assert (await rb.api("/api/v1/incidents"))[0]["status"] == "resolved"
    assert fakes.trading.count("/admin/trading/emergency-stop") == 1
