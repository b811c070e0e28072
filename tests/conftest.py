"""Fixtures shared by the whole suite: the fake vendor APIs and an in-process runbookd; the skip policy.

Skip policy: nothing is skipped silently. pytest's header names every missing prerequisite
(``tests/prerequisites.py``) with the command that installs it, the summary lists each skipped test
with its reason (``-ra``) and repeats the commands, and on CI (``CI`` set) every skip is reported as
a failure: a CI run that did not run a test has not passed it.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.app import Components, build_app, build_components
from receiver.clock import FakeClock
from receiver.settings import parse_settings
from tests import prerequisites
from tests.fakes import running
from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.trading import FakeTradingSystem

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / "tests" / "testdata"
#: Bodies captured from the real Alertmanager 0.25 (see its README.md): part of the repository.
FIXTURES = TESTDATA / "alertmanager-0.25"
ADMIN = "admin-token-for-tests"
TRADING_TOKEN = "trading-admin-token"
SLACK_SECRET = "slack-signing-secret-for-tests"
PD_SECRET = "pagerduty-webhook-secret-for-tests"


_MISSING = pytest.StashKey[list[prerequisites.Missing]]()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name each missing prerequisite at the top of the run, with the command that installs it."""
    parts = prerequisites.missing()
    config.stash[_MISSING] = parts
    mode = "CI: every skip fails" if prerequisites.ci() else "not CI: skips are listed in the summary"
    if not parts:
        return [f"prerequisites: all present ({mode})"]
    return [*prerequisites.describe(parts).splitlines(), f"({mode})"]


def _as_ci_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Turn a skipped report into a failure that says why the test did not run."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"skipped on CI, which must run every test: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On CI, a skipped test (not an expected failure) is reported as failed, with its skip reason."""
    report = yield
    if prerequisites.ci() and report.skipped and not hasattr(report, "wasxfail"):
        _as_ci_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """On CI, a module skipped at collection (``pytest.skip(allow_module_level=True)``) fails too."""
    report = yield
    if prerequisites.ci() and report.skipped:
        _as_ci_failure(report)
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """After the short summary: how many tests were skipped, and the commands that would run them."""
    skipped = terminalreporter.stats.get("skipped", [])
    parts = config.stash.get(_MISSING, [])
    if not skipped and not parts:
        return
    terminalreporter.section("skipped tests and missing prerequisites")
    terminalreporter.write_line(f"{len(skipped)} test(s) skipped (reasons above, under 'short test summary')")
    if parts:
        for line in prerequisites.describe(parts).splitlines():
            terminalreporter.write_line(line)


@dataclass
class Fakes:
    """The four fake vendor APIs, served on loopback."""

    slack: FakeSlack
    pagerduty: FakePagerDuty
    alpaca: FakeAlpaca
    trading: FakeTradingSystem


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    """Serve fake Slack, PagerDuty, Alpaca and trading-system APIs for one test."""
    async with running(FakeSlack()) as slack, running(FakePagerDuty()) as pd, \
            running(FakeAlpaca()) as alpaca, running(FakeTradingSystem(TRADING_TOKEN)) as trading:
        yield Fakes(slack, pd, alpaca, trading)


def settings_for(tmp_path: Path, fakes: Fakes | None, **overrides: Any) -> Any:
    """Settings of an in-process runbookd on a temp SQLite file, wired to ``fakes``."""
    data: dict[str, Any] = {
        "storage": f"sqlite:///{tmp_path}/rb.db",
        "rule_files": [str(TESTDATA / "rules" / "pipeline.yml")],
        "dry_run": False,
        "admin": {"token": ADMIN},
        "lease": "30s",
        "pagerduty": {"routing_keys": {"default": "", "secondary": ""}},
        # In-process tests apply alerts on the writer thread; tests/store/test_ingest_process.py and the
        # end-to-end tests (runbookd serve) cover the child process that serve uses by default.
        "webhook": {"ingest_process": False},
    }
    if fakes is not None:
        data |= {
            "slack": {"token": "xoxb-test-token", "api_url": f"{fakes.slack.url}/api/",
                      "signing_secret": SLACK_SECRET},
            "pagerduty": {"events_url": fakes.pagerduty.url, "webhook_secret": PD_SECRET,
                          "routing_keys": {"default": "R" * 32, "secondary": "S" * 32}},
            "alpaca": {"api_key": "PKTESTKEY", "secret_key": "test-secret", "url_override": fakes.alpaca.url},
            "vars": {"trading_api_url": fakes.trading.url},
            "secrets": {"trading_admin_token": TRADING_TOKEN},
        }
    if "webhook" in overrides:
        overrides["webhook"] = {"ingest_process": False, **overrides["webhook"]}
    data |= overrides
    return parse_settings(data, base_dir=str(tmp_path))


@dataclass
class Runbookd:
    """An in-process runbookd: HTTP client, components and a fake clock (the dispatcher runs on demand)."""

    client: TestClient
    c: Components
    clock: FakeClock

    async def post_alerts(self, payload: dict[str, Any] | bytes, **headers: str) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self.client.post("/webhook/alertmanager", data=io.BytesIO(body),
                                      headers={"Content-Type": "application/json", **headers})

    async def run(self) -> int:
        """Process committed alerts and run every due work row (nothing sleeps)."""
        assert self.c.dispatcher is not None
        return await self.c.dispatcher.run_once()

    async def advance(self, seconds: float) -> int:
        """Move the fake clock and run what became due."""
        self.clock.advance(seconds)
        return await self.run()

    async def api_post(self, path: str, body: Any = None) -> Any:
        return await self.client.post(path, json=body, headers={"Authorization": f"Bearer {ADMIN}"})

    async def api(self, path: str) -> Any:
        r = await self.client.get(path, headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status == 200, await r.text()
        return await r.json()


@pytest.fixture
def make_runbookd(aiohttp_client: Any, tmp_path: Path) -> Any:
    """Factory: ``await make_runbookd(fakes, **settings_overrides)`` → ``Runbookd``."""

    async def make(fakes: Fakes | None, **overrides: Any) -> Runbookd:
        clock = FakeClock(1_800_000_000.0)
        c = build_components(settings_for(tmp_path, fakes, **overrides), clock=clock)
        client = await aiohttp_client(build_app(c, run_dispatcher=False))
        return Runbookd(client, c, clock)

    return make


def alert(name: str = "TradingSystemDown", status: str = "firing", *, fingerprint: str = "a1b2c3d4e5f60718",
          starts_at: str = "2026-11-22T01:37:32.084422Z", ends_at: str = "0001-01-01T00:00:00Z",
          **labels: str) -> dict[str, Any]:
    """One alert as Alertmanager 0.25 sends it."""
    return {
        "status": status,
        "labels": {"alertname": name, "job": "trading-engine", "instance": "engine-1:8000", **labels},
        "annotations": {"summary": f"{name} summary", "description": f"{name} description",
                        "runbook_url": "https://runbooks.example/trading-down"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    """A webhook payload version 4 carrying ``alerts`` (status firing if any fires)."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "runbookd", "status": "firing" if firing else "resolved", "alerts": list(alerts),
        "groupLabels": {"alertname": alerts[0]["labels"].get("alertname", "")},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "version": "4", "groupKey": '{}:{alertname="x"}', "truncatedAlerts": 0,
    }
