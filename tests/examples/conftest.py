"""Fixtures for the seed-system examples (``examples/<system>/``): their fakes and an in-process runbookd.

``example_runbookd`` loads the example's own ``runbookd.yml`` with an environment that points the
system's variables (e.g. ``CLI_TRADING_API_URL``) at its fake, so the end-to-end tests prove the
example's wiring — variable names, ``vars``/``secrets`` keys, PagerDuty routing key names — and not
a copy of it. Everything else comes from ``tests.conftest.settings_for`` (fake Slack, PagerDuty and
Alpaca; a temp SQLite store; dry-run off; the fake clock). The tests import this module as ``ex`` and
use its helpers: ``ex.fire_alert``, ``ex.only_incident``, ``ex.slack_pages`` and the rest.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import aiohttp
import pytest

from receiver.settings import load_settings
from tests.conftest import ROOT, Fakes, alert, payload
from tests.fakes import running
from tests.fakes.base import IdempotentFakeApp
from tests.fakes.cli_trading import FakeCliTrading
from tests.fakes.fx_pipeline import FakeFxPipeline
from tests.fakes.omni_alpha import FakeOmniAlpha
from tests.fakes.slack import channel_id
from tests.fakes.tradingbot import FakeTradingbot
from tests.incidents.test_pipeline import _p

EXAMPLES = ROOT / "examples"
#: Epoch seconds of 2027-01-15 15:00 UTC, a Friday 10:00 in New York: US market hours.
MARKET_HOURS = 1_800_025_200.0
#: Epoch seconds of 2027-01-16 15:00 UTC, a Saturday: outside market hours.
WEEKEND = MARKET_HOURS + 86_400

F = TypeVar("F", bound=IdempotentFakeApp)


def run_unit_tests(system: str) -> subprocess.CompletedProcess[str]:
    """``runbookd test`` on every ``examples/<system>/rules/tests/*.yml``, as CI runs it."""
    files = sorted(str(p) for p in (EXAMPLES / system / "rules" / "tests").glob("*.yml"))
    assert files, f"no unit tests in examples/{system}/rules/tests"
    return subprocess.run([sys.executable, "-m", "receiver", "test", *files], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})


def assert_unit_tests_pass(system: str) -> None:
    """``runbookd test examples/<system>/rules/tests/*.yml`` succeeds."""
    r = run_unit_tests(system)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


async def example_runbookd(make_runbookd: Any, fakes: Fakes, system: str, env: dict[str, str],
                           **overrides: Any) -> Any:
    """An in-process runbookd with ``examples/<system>/rules/*.yml`` and the example's ``vars``,
    ``secrets``, ``command``, ``actions`` (and ``alpaca``, when ``env`` sets its keys) as its ``runbookd.yml``
    reads them from ``env``, and its ``calendar``. Every PagerDuty
    routing key name of the example gets a key of the fake PagerDuty (``"<name>-routing-key"``)."""
    cfg = load_settings(EXAMPLES / system / "runbookd.yml", env=env)
    keys = {name: f"{name}-routing-key".ljust(32, "0") for name in cfg.pagerduty.routing_keys}
    data: dict[str, Any] = {
        "rule_files": [str(EXAMPLES / system / "rules" / "*.yml")],
        "vars": dict(cfg.vars),
        "secrets": dict(cfg.secrets),
        "command": cfg.command.model_dump(),
        "actions": cfg.actions.model_dump(),
        "pagerduty": {"events_url": fakes.pagerduty.url, "routing_keys": keys},
    }
    if cfg.calendar is not None:  # the example's exchange calendar (fx-pipeline: XNYS)
        data["calendar"] = cfg.calendar.model_dump()
    if cfg.alpaca.api_key:  # the example names its own Alpaca variables (paper-trader): use them
        data["alpaca"] = cfg.alpaca.model_dump()
    return await make_runbookd(fakes, **(data | overrides))


async def fire_alert(rb: Any, name: str, **labels: Any) -> None:
    """Post one alert ``name`` (``alert(name, **labels)``, firing unless ``status`` says otherwise) and
    let runbookd act on it."""
    await rb.post_alerts(payload(alert(name, **labels)))
    await rb.run()


async def only_incident(rb: Any, rule: str) -> dict[str, Any]:
    """The one incident of ``rule`` (fails when there is none or several)."""
    [inc] = [i for i in await rb.api("/api/v1/incidents") if i["rule"] == rule]
    return inc


async def timeline(rb: Any, incident_id: str) -> list[dict[str, Any]]:
    """The incident's timeline, oldest first."""
    return list((await rb.api(f"/api/v1/incidents/{incident_id}"))["timeline"])


def step_outcomes(events: list[dict[str, Any]]) -> dict[str, str]:
    """``{step name: last outcome kind}`` from a timeline (``ok``, ``skipped``, ``rejected``, …)."""
    out: dict[str, str] = {}
    for e in events:
        if e["kind"].startswith("step.") and e["kind"] not in ("step.started", "step.precondition"):
            out[e["data"]["step"]] = e["kind"].removeprefix("step.")
    return out


def slack_posts(fakes: Fakes, channel: str | None = None) -> list[dict[str, Any]]:
    """Bodies of ``chat.postMessage`` calls (to ``channel``, by name or id, when given)."""
    bodies = [_p(r) for r in fakes.slack.calls("/api/chat.postMessage")]
    return [b for b in bodies if channel is None or b.get("channel") in (channel, channel_id(channel))]


def slack_pages(fakes: Fakes, channel: str) -> list[dict[str, Any]]:
    """Top-level Slack messages (pages, approval requests carry a thread) posted to ``channel``."""
    return [b for b in slack_posts(fakes, channel) if not b.get("thread_ts")]


def pd_events(fakes: Fakes, action: str, routing_key: str | None = None) -> list[dict[str, Any]]:
    """PagerDuty events of ``action`` (``trigger``, ``acknowledge``, ``resolve``), for a key name."""
    want = None if routing_key is None else f"{routing_key}-routing-key".ljust(32, "0")
    return [r["json"] for r in fakes.pagerduty.calls("/v2/enqueue")
            if r["json"]["event_action"] == action and (want is None or r["json"]["routing_key"] == want)]


async def assert_key_executes_once(fake: Any, path: str, headers: dict[str, str], body: Any) -> None:
    """The fake's own contract: two POSTs with one ``Idempotency-Key`` execute once and answer alike;
    another key executes again. (The end-to-end tests count executions with ``executions(path)``.)"""
    async with aiohttp.ClientSession() as http:
        answers = []
        for key in ("k-1", "k-1", "k-2"):
            async with http.post(fake.url + path, json=body, headers={**headers, "Idempotency-Key": key}) as r:
                assert r.status < 500, await r.text()
                answers.append((r.status, await r.json(), r.headers.get("Idempotent-Replayed")))
    assert answers[0][:2] == answers[1][:2] and answers[1][2] == "true" and answers[0][2] is None
    assert fake.executions(path) == 2 and fake.count(path) == 3


def assert_executed_once(fake: IdempotentFakeApp, *paths: str) -> None:
    """Each write to ``paths`` took effect exactly once (``fake.executions``)."""
    assert {path: fake.executions(path) for path in paths} == dict.fromkeys(paths, 1)


def _served(name: str, make: Callable[[], F], doc: str) -> Any:
    """A fixture ``name`` that serves a fresh ``make()`` on loopback for the test."""

    async def fixture() -> AsyncIterator[F]:
        async with running(make()) as fake:
            yield fake

    fixture.__doc__ = doc
    return pytest.fixture(name=name)(fixture)


omni_alpha = _served("omni_alpha", FakeOmniAlpha, "The fake Omni Alpha admin API, served on loopback.")
tradingbot = _served("tradingbot", FakeTradingbot, "The fake tradingbot (Django) admin API, served on loopback.")
fx_pipeline = _served("fx_pipeline", FakeFxPipeline,
                      "The fake FX signal pipeline (gateway :8080 and risk manager :8084 in one app), on loopback.")
cli_trading = _served("cli_trading", FakeCliTrading, "The fake CLI-Trading orchestrator admin API, served on loopback.")
