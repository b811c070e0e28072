"""Fixtures for notifier tests: fake Slack and PagerDuty served over HTTP, and messages."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from receiver.notify.base import Message
from receiver.settings import PagerDutyConfig, SlackConfig
from tests.fakes import running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack

SLACK_TOKEN = "xoxb-test-token"
ROUTING_KEY = "R0UTINGKEY0123456789abcdef012345"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A running fake Slack that accepts ``SLACK_TOKEN``."""
    async with running(FakeSlack(token=SLACK_TOKEN)) as fake:
        yield fake


@pytest.fixture
def slack_config(slack: FakeSlack) -> SlackConfig:
    """Slack configured against the fake (``api_url`` given without its trailing slash)."""
    return SlackConfig(token=SLACK_TOKEN, api_url=f"{slack.url}/api")


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    """A running fake PagerDuty Events API v2."""
    async with running(FakePagerDuty()) as fake:
        yield fake


@pytest.fixture
def pagerduty_config(pagerduty: FakePagerDuty) -> PagerDutyConfig:
    """PagerDuty over ``http://`` against the fake, with one routing key named ``default``."""
    return PagerDutyConfig(events_url=pagerduty.url, routing_keys={"default": ROUTING_KEY})


@pytest.fixture
def dead_url() -> str:
    """A base URL where nothing listens (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_message(**overrides: object) -> Message:
    """A P0 firing page for TradingSystemDown; keyword arguments override fields."""
    fields: dict[str, object] = {
        "kind": "page",
        "incident_id": "inc-42",
        "dedup_key": "runbookd-inc-42",
        "severity": "P0",
        "status": "firing",
        "title": "TradingSystemDown",
        "summary": "Trading system is down",
        "description": "No heartbeat from execution for 2m",
        "labels": {"alertname": "TradingSystemDown", "instance": "exec-1:9100", "job": "execution"},
        "runbook_url": "https://runbooks.example.com/trading-down",
        "actions": ["stop-trading (http): ok — 200"],
        "started_at": 1_800_000_000.0,
        "incident_url": "http://127.0.0.1:9096/incidents/inc-42",
    }
    fields.update(overrides)
    return Message(**fields)  # type: ignore[arg-type]
