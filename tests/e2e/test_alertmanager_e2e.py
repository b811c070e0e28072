"""End to end: the real Alertmanager (and Prometheus) drive runbookd, which acts on the vendor fakes.

Everything runs as separate processes on loopback with the shipped runbookd.yml, rules/ and
alertmanager.yml (see tests/e2e/harness.py). runbookd is armed (RUNBOOKD_DRY_RUN=false) except where a
test says otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.harness import (
    ALPACA_KEY,
    PAGERDUTY_ROUTING_KEY,
    TRADING_TOKEN,
    Alertmanager,
    Fakes,
    Prometheus,
    Runbookd,
    make_alert,
    resolved,
    wait_until,
)

pytestmark = pytest.mark.e2e

EMERGENCY_STOP = "/admin/trading/emergency-stop"
ENABLE_BREAKERS = "/admin/circuit-breakers/enable-all"
STOP_FEEDS = "/admin/data/stop-feeds"

DOWN_LABELS = {
    "alertname": "TradingSystemDown",
    "job": "trading-engine",
    "instance": "engine-1:8000",
    "severity": "P0",
}
DOWN_ANNOTATIONS = {
    "summary": "Trading system is down",
    "description": "trading-engine target engine-1:8000 has not answered its scrape for over a minute.",
    "runbook_url": "https://runbooks.example.com/trading/TradingSystemDown",
}


def trading_system_down() -> dict[str, Any]:
    """A firing TradingSystemDown as Prometheus would send it, started a few seconds ago."""
    return make_alert(DOWN_LABELS, DOWN_ANNOTATIONS, starts_at=datetime.now(UTC) - timedelta(seconds=5))


def header(record: dict[str, Any], name: str) -> str | None:
    """A recorded request's header, whatever its case."""
    return next((v for k, v in record["headers"].items() if k.lower() == name.lower()), None)


def side_effects(fakes: Fakes) -> dict[str, int]:
    """How often each emergency-shutdown step and each page reached the fakes."""
    return {
        "stop-trading": len(fakes.requests("trading", "POST", EMERGENCY_STOP)),
        "cancel-orders": len(fakes.requests("alpaca", "DELETE", "/v2/orders")),
        "enable-circuit-breakers": len(fakes.requests("trading", "POST", ENABLE_BREAKERS)),
        "stop-data-feeds": len(fakes.requests("trading", "POST", STOP_FEEDS)),
        "pagerduty-trigger": len(fakes.pagerduty_events("trigger")),
        "slack-page": len(fakes.slack_pages("#critical")),
    }


def all_done(fakes: Fakes) -> dict[str, int]:
    """``side_effects`` once every one of them happened at least once, else ``{}`` (falsy)."""
    seen = side_effects(fakes)
    return seen if all(seen.values()) else {}


def pages_recorded(runbookd: Runbookd) -> set[str]:
    """Receivers whose page the TradingSystemDown incident's timeline records as sent."""
    incidents = runbookd.incidents(alertname="TradingSystemDown")
    if not incidents:
        return set()
    timeline = runbookd.incident(incidents[0]["id"])["timeline"]
    return {e["data"]["receiver"] for e in timeline if e["kind"] == "notify.ok" and e["data"].get("kind") == "page"}


def slack_resolution(fakes: Fakes) -> list[dict[str, Any]]:
    """Slack calls that announce the resolution: a thread reply or an edit of the page saying RESOLVED.

    Upper case on purpose: a page's buttons (``Resolve``, ``incident_resolve``) must not count.
    """
    replies = [p for p in fakes.slack_posts("#critical") if p.get("thread_ts")]
    return [p for p in replies + fakes.slack_updates() if "RESOLVED" in json.dumps(p, ensure_ascii=False)]


def test_trading_system_down_pages_runs_emergency_shutdown_and_resolves(
    fakes: Fakes, runbookd: Runbookd, alertmanager: Alertmanager
) -> None:
    """A P0 through Alertmanager pages #critical and PagerDuty and halts trading; its resolve closes both."""
    alert = trading_system_down()
    alertmanager.post_alerts([alert])

    seen = wait_until(lambda: all_done(fakes), timeout=15, message="the page and every shutdown step")
    assert seen == dict.fromkeys(seen, 1)

    (stop,) = fakes.requests("trading", "POST", EMERGENCY_STOP)
    assert header(stop, "Authorization") == f"Bearer {TRADING_TOKEN}"
    assert stop["json"]["reason"] == "TradingSystemDown"
    assert stop["json"]["initiated_by"] == "runbookd"
    assert stop["json"]["incident"]
    for path in (ENABLE_BREAKERS, STOP_FEEDS):
        (call,) = fakes.requests("trading", "POST", path)
        assert header(call, "Authorization") == f"Bearer {TRADING_TOKEN}"
    (cancel,) = fakes.requests("alpaca", "DELETE", "/v2/orders")
    assert header(cancel, "APCA-API-KEY-ID") == ALPACA_KEY
    (trigger,) = fakes.pagerduty_events("trigger")
    assert trigger["routing_key"] == PAGERDUTY_ROUTING_KEY
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["dedup_key"]

    alertmanager.post_alerts([resolved(alert)])

    resolves = wait_until(lambda: fakes.pagerduty_events("resolve"), timeout=15, message="a PagerDuty resolve")
    assert [e["dedup_key"] for e in resolves] == [trigger["dedup_key"]]
    wait_until(lambda: slack_resolution(fakes), timeout=15, message="a Slack reply or page edit saying resolved")
    # Resolved is not undo: nothing protective ran again, and the page was not posted again.
    assert side_effects(fakes) == dict.fromkeys(seen, 1)

    # The post-mortem draft holds the real timeline: the alert, each step with its result, the pages,
    # with the times the incident's own events carry.
    (incident,) = runbookd.incidents(alertname="TradingSystemDown")
    detail = runbookd.admin("GET", f"/api/v1/incidents/{incident['id']}").json()
    draft = runbookd.admin("GET", f"/api/v1/incidents/{incident['id']}/postmortem")
    assert draft.status_code == 200 and draft.headers["Content-Type"].startswith("text/markdown")
    md = draft.text
    for step in ("stop-trading", "cancel-orders", "enable-circuit-breakers", "stop-data-feeds"):
        assert step in md
    assert "pagerduty-primary" in md and "slack-critical" in md and "TradingSystemDown" in md
    for event in detail["timeline"]:
        if event["kind"] in ("incident.opened", "step.ok", "incident.resolved"):
            assert event["at"][:19].replace("T", " ") in md, event

    # The audit log of the whole run is one unbroken chain (issue 14): `runbookd audit verify` on the
    # live database, with the same config and environment as the service.
    verify = subprocess.run([sys.executable, "-m", "receiver", "audit", "verify", "--config",
                             str(runbookd.config_path)], env=runbookd.env(), capture_output=True, text=True,
                            timeout=60, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_prometheus_alert_on_dead_target_reaches_runbookd(
    fakes: Fakes,
    runbookd: Runbookd,
    alertmanager: Alertmanager,
    make_prometheus: Callable[..., Prometheus],
) -> None:
    """Prometheus' TradingSystemDown (shipped alerts.yml) on a dead target pages and opens an incident."""
    make_prometheus(alertmanager)

    wait_until(lambda: fakes.slack_pages("#critical"), timeout=30, message="a Slack page in #critical")
    (trigger,) = wait_until(lambda: fakes.pagerduty_events("trigger"), timeout=15, message="a PagerDuty trigger")
    assert trigger["payload"]["severity"] == "critical"

    (incident,) = wait_until(
        lambda: runbookd.incidents(alertname="TradingSystemDown"), timeout=15, message="an incident"
    )
    assert incident["rule"] == "trading-system-down"
    assert incident["severity"] == "P0"
    assert incident["status"] == "firing"
    assert incident["labels"] == {"alertname": "TradingSystemDown", "job": "trading-engine"}
    assert [a["status"] for a in incident["alerts"]] == ["firing"]


def test_resent_alerts_run_the_playbook_and_page_once(
    fakes: Fakes,
    make_runbookd: Callable[..., Runbookd],
    make_alertmanager: Callable[..., Alertmanager],
) -> None:
    """Alertmanager re-sending the same group every 2 s runs each step once and pages once."""
    runbookd = make_runbookd()
    alertmanager = make_alertmanager(runbookd, group_interval="1s", repeat_interval="2s")
    alertmanager.post_alerts([trading_system_down()])

    seen = wait_until(lambda: all_done(fakes), timeout=15, message="the page and every shutdown step")
    wait_until(
        lambda: alertmanager.webhook_deliveries() >= 4,
        timeout=30,
        message="Alertmanager to deliver the group and re-send it 3 times",
    )
    assert runbookd.metric("runbookd_alerts_received_total") >= 4
    assert side_effects(fakes) == dict.fromkeys(seen, 1)
    assert len(runbookd.incidents(alertname="TradingSystemDown")) == 1


def test_sigkill_mid_playbook_resumes_without_repeating_finished_steps(
    fakes: Fakes,
    make_runbookd: Callable[..., Runbookd],
    make_alertmanager: Callable[..., Alertmanager],
) -> None:
    """After kill -9 during a step, a restart on the same database finishes the playbook.

    Steps finished before the crash are not run again; the step cut off (an idempotent HTTP call) may
    run once more (DESIGN: "A step cut off by a crash is retried ... when its action is idempotent").
    A short lease lets the restarted process take over its predecessor's claim quickly.
    """
    runbookd = make_runbookd(overrides={"lease": "3s"})
    alertmanager = make_alertmanager(runbookd)
    fakes.delay("trading", ENABLE_BREAKERS, 120.0)
    alertmanager.post_alerts([trading_system_down()])

    wait_until(
        lambda: fakes.requests("trading", "POST", ENABLE_BREAKERS),
        timeout=15,
        message="the circuit-breaker step to be in flight",
    )
    # Pages run beside the playbook: let both be recorded as sent, so that the crash cuts off the step
    # alone (a page cut off by a crash is sent again to PagerDuty, which deduplicates it, not to Slack).
    wait_until(
        lambda: pages_recorded(runbookd) == {"slack-critical", "pagerduty-primary"},
        timeout=15,
        message="both pages recorded on the timeline",
    )
    runbookd.kill()
    before = side_effects(fakes)
    assert (before["stop-trading"], before["cancel-orders"], before["stop-data-feeds"]) == (1, 1, 0)

    fakes.delay("trading", ENABLE_BREAKERS, 0.0)
    runbookd.start()

    seen = wait_until(lambda: all_done(fakes), timeout=45, message="the rest of the playbook and the page")
    assert seen["stop-trading"] == 1
    assert seen["cancel-orders"] == 1
    assert seen["enable-circuit-breakers"] in (1, 2)
    assert seen["stop-data-feeds"] == 1
    assert seen["pagerduty-trigger"] == 1
    assert seen["slack-page"] == 1
    assert len(runbookd.incidents(alertname="TradingSystemDown")) == 1


def test_dry_run_by_default_pages_but_touches_nothing(
    fakes: Fakes,
    make_runbookd: Callable[..., Runbookd],
    make_alertmanager: Callable[..., Alertmanager],
) -> None:
    """With RUNBOOKD_DRY_RUN unset the shipped config is in dry run: pages go out, no halt, no cancel."""
    runbookd = make_runbookd(extra_env={"RUNBOOKD_DRY_RUN": ""})
    alertmanager = make_alertmanager(runbookd)
    alertmanager.post_alerts([trading_system_down()])

    wait_until(lambda: fakes.slack_pages("#critical"), timeout=15, message="a Slack page in #critical")
    wait_until(lambda: fakes.pagerduty_events("trigger"), timeout=15, message="a PagerDuty trigger")
    wait_until(
        lambda: runbookd.metric("runbookd_actions_total", outcome="dry_run") >= 4,
        timeout=15,
        message="the four writing steps recorded as dry-run",
    )
    assert fakes.requests("trading") == []
    assert fakes.requests("alpaca", "DELETE") == []
