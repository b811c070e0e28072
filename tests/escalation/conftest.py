"""Fixtures for message templates and post-mortems: a resolved P0 incident with a realistic timeline."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from receiver.escalation.templates import Templates
from receiver.model import Incident, IncidentAlert, TimelineEvent

#: 2027-01-15 08:00:00 UTC
T0 = 1_800_000_000.0


def sample_alert(**overrides: Any) -> IncidentAlert:
    """TradingSystemDown as tracked by the incident (fired at T0 - 30s, resolved at T0 + 12m)."""
    alert = IncidentAlert(
        fingerprint="a1b2c3d4e5f60718",
        starts_at="2027-01-15T07:59:30.000000Z",
        status="resolved",
        labels={"alertname": "TradingSystemDown", "job": "trading-engine", "instance": "engine-1:8000"},
        annotations={"summary": "Trading system is down", "description": "No heartbeat from execution for 2m",
                     "runbook_url": "https://runbooks.example/trading-down"},
        starts_ts=T0 - 30,
        ends_ts=T0 + 720,
    )
    return replace(alert, **overrides)


def sample_incident(**overrides: Any) -> Incident:
    """A P0 incident opened at T0, acknowledged by alice at T0 + 5m, resolved at T0 + 12m 5s."""
    incident = Incident(
        id="018d2c3e4f50a1b2c3d4", identity="TradingSystemDown", rule="trading-system-down", severity="P0",
        status="resolved", labels={"alertname": "TradingSystemDown"}, title="TradingSystemDown",
        playbook="emergency-halt", rules_version="v1", started_at=T0, updated_at=T0 + 725,
        resolved_at=T0 + 725, acknowledged_at=T0 + 300, acknowledged_by="alice", alerts=(sample_alert(),),
    )
    return replace(incident, **overrides)


def sample_timeline() -> list[TimelineEvent]:
    """The incident's events as the processor, playbook runner and sender record them (oldest first)."""
    ev = TimelineEvent
    return [
        ev(T0, "alert.firing", "alert TradingSystemDown firing", {"fingerprint": "a1b2c3d4e5f60718"}),
        ev(T0, "rule.matched", "rule 'trading-system-down' (rules/trading.yml:3) matched: severity P0",
           {"rule": "trading-system-down", "severity": "P0"}),
        ev(T0, "incident.opened", "incident opened: TradingSystemDown", {}),
        ev(T0 + 1, "step.started", "step 'stop-trading' (http) started",
           {"step": "stop-trading", "action": "http", "params": {"url": "http://trading/halt"}}),
        ev(T0 + 1.5, "step.ok", "step 'stop-trading' (http): ok — POST http://trading/halt -> 200",
           {"step": "stop-trading", "action": "http", "outcome": "ok", "status": 200}),
        ev(T0 + 2, "notify.ok", "page to critical (slack): sent, ref C0CRIT:1700000000.000101",
           {"receiver": "critical", "channel": "slack", "kind": "page", "ref": "C0CRIT:1700000000.000101"}),
        ev(T0 + 2, "notify.ok", "page to oncall-pd (pagerduty): sent, ref runbookd-018d2c3e4f50a1b2c3d4",
           {"receiver": "oncall-pd", "channel": "pagerduty", "kind": "page", "ref": "runbookd-018d2c3e4f50a1b2c3d4"}),
        ev(T0 + 3, "step.started", "step 'cancel-orders' (alpaca.cancel_all_orders) started",
           {"step": "cancel-orders", "action": "alpaca.cancel_all_orders", "params": {}}),
        ev(T0 + 4, "step.failed", "step 'cancel-orders' (alpaca.cancel_all_orders) failed: 403 forbidden",
           {"step": "cancel-orders", "action": "alpaca.cancel_all_orders", "attempt": 1, "retryable": False}),
        ev(T0 + 300, "incident.acknowledged", "acknowledged by alice via slack",
           {"by": "alice", "via": "slack", "cancelled_pages": 1}),
        ev(T0 + 720, "alert.resolved", "alert a1b2c3d4e5f60718 resolved", {}),
        ev(T0 + 725, "incident.resolved", "all alerts resolved after 725s",
           {"by": None, "via": "alerts", "duration_seconds": 725.0}),
    ]


@pytest.fixture
def templates() -> Templates:
    """The shipped default templates."""
    return Templates()
