"""Exactly once across re-sends and kill -9: every step of a three-step playbook executes once at the
trading system, counted by the Idempotency-Key runbookd commits before each call."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import WEBHOOK_TOKEN
from tests.e2e.harness import ROOT, Fakes, Runbookd, wait_until

pytestmark = pytest.mark.e2e
PATHS = ("/admin/orchestrate/halt", "/admin/circuit-breakers/enable-all", "/admin/data/stop-feeds")


def executions(fakes: Fakes, path: str) -> set[str]:
    """The distinct idempotency keys the trading system received on ``path`` (what it executed)."""
    return {r["headers"].get("Idempotency-Key", "") for r in fakes.requests("trading", "POST", path)}


def test_three_step_playbook_runs_each_step_once_across_resends_and_kill(
    fakes: Fakes, make_runbookd: Callable[..., Runbookd],
) -> None:
    """Re-sent three times and killed while step 2 is in flight, the playbook executes each step once."""
    rules = str(ROOT / "tests" / "testdata" / "rules" / "three_step.yml")
    runbookd = make_runbookd(overrides={"rule_files": [rules], "lease": "3s"})
    body = {"version": "4", "status": "firing", "receiver": "runbookd", "groupKey": "{}:{}", "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": {"alertname": "ThreeStep", "job": "x"}, "annotations": {},
                        "startsAt": "2026-11-22T01:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                        "fingerprint": "3333333333333333"}]}
    headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    fakes.delay("trading", PATHS[1], 120.0)
    for _ in range(3):
        assert httpx.post(runbookd.webhook_url, json=body, headers=headers).status_code == 200
    wait_until(lambda: fakes.requests("trading", "POST", PATHS[1]), timeout=15, message="step 2 in flight")
    runbookd.kill()
    assert len(executions(fakes, PATHS[0])) == 1 and not executions(fakes, PATHS[2])
    fakes.delay("trading", PATHS[1], 0.0)
    runbookd.start()
    assert httpx.post(runbookd.webhook_url, json=body, headers=headers).status_code == 200
    wait_until(lambda: executions(fakes, PATHS[2]), timeout=30, message="step 3 after the restart")
    assert [len(executions(fakes, p)) for p in PATHS] == [1, 1, 1]
    assert len(fakes.requests("trading", "POST", PATHS[0])) == 1  # finished before the kill: never re-sent
    assert len(runbookd.incidents()) == 1
