"""Durable escalation timers across kill -9: every due step fires exactly once, none twice."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import WEBHOOK_TOKEN
from tests.e2e.harness import ROOT, Fakes, Runbookd, wait_until

pytestmark = pytest.mark.e2e


def test_sigkill_with_pending_escalations_fires_each_step_once(
    fakes: Fakes, make_runbookd: Callable[..., Runbookd],
) -> None:
    """Killed right after the first page, restarted after the 4 s step fell due: the 4 s and 6 s steps
    each fire once at the fakes, the first page is not repeated."""
    rules = str(ROOT / "tests" / "testdata" / "rules" / "escalation_e2e.yml")
    runbookd = make_runbookd(overrides={"rule_files": [rules], "lease": "3s"})
    body = {"version": "4", "status": "firing", "receiver": "runbookd", "groupKey": "{}:{}", "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": {"alertname": "EscalateAcrossRestart", "job": "x"},
                        "annotations": {"summary": "s"}, "startsAt": "2026-11-22T01:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "e2e0e2e0e2e0e2e0"}]}
    r = httpx.post(runbookd.webhook_url, json=body, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert r.status_code == 200
    wait_until(lambda: fakes.slack_pages("#alerts"), timeout=15, message="the first page")
    runbookd.kill()
    killed_at = time.monotonic()
    assert fakes.pagerduty_events("trigger") == []
    wait_until(lambda: time.monotonic() - killed_at > 4.5, timeout=10, message="the 4 s step to fall due")
    runbookd.start()
    wait_until(lambda: fakes.pagerduty_events("trigger"), timeout=20, message="the overdue PagerDuty step")
    wait_until(lambda: fakes.slack_pages("#critical"), timeout=20, message="the 6 s Slack step")
    settle = time.monotonic()
    wait_until(lambda: time.monotonic() - settle > 2.0, timeout=5)
    assert len(fakes.slack_pages("#alerts")) == 1
    assert len(fakes.pagerduty_events("trigger")) == 1
    assert len(fakes.slack_pages("#critical")) == 1
