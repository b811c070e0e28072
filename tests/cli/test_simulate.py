"""``runbookd simulate PAYLOAD.json`` on captured Alertmanager payloads: the printed plan, its JSON form,
and that it agrees with what ``runbookd serve`` actually does with the same alert."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from receiver.cli import main
from receiver.ingest.payload import parse_payload
from receiver.rules import load_rule_files
from receiver.simulate import alerts_from_payload, plan, render_text
from receiver.simulate.plan import Deployment
from tests.conftest import ROOT, TESTDATA, alert, payload

HERE = Path(__file__).resolve().parent / "simulate"
CONFIG = HERE / "runbookd.yml"
TOKEN = "s3cret-admin-token"
PAYLOADS = sorted(TESTDATA.glob("*.json"))


def simulate(*args: str, config: Path | None = CONFIG, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``runbookd simulate`` as a process, with the trading token in its environment."""
    cmd = [sys.executable, "-m", "receiver", "simulate", *args] + (["--config", str(config)] if config else [])
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, input=stdin,
                          env={"PATH": "/usr/bin:/bin", "TRADING_ADMIN_TOKEN": TOKEN})


def contained(part: Any, whole: Any) -> bool:
    """Whether ``part`` is in ``whole``: mappings key by key (the runner may add keys, such as an
    Idempotency-Key header), anything else equal."""
    if isinstance(part, dict) and isinstance(whole, dict):
        return all(k in whole and contained(v, whole[k]) for k, v in part.items())
    return bool(part == whole)


def version() -> str:
    """The version of tests/cli/simulate/rules.yml as the config names it."""
    return load_rule_files(["rules.yml"], str(HERE)).version


def test_a_trading_outage_prints_decision_steps_and_timeline() -> None:
    """The captured TradingSystemDown payload, acknowledged after 2 minutes: the whole plan, as printed."""
    r = simulate(str(TESTDATA / "trading-system-down-firing.json"), "--ack-at", "2m")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"""\
Plan from 2026-01-05T15:00:07.412Z until +45m (2026-01-05T15:45:07.412Z)
Rules version {version()} (rules.yml)
Acknowledged at +2m (2026-01-05T15:02:07.412Z)

Alert da4ec7e8243f5ae5 {{alertname="TradingSystemDown", instance="engine-1:8000", job="trading-engine", \
severity="P0"}}
  firing at +0s (2026-01-05T15:00:07.412Z)
  rules: trading-down -> incident(s): sim-1

Incident 1 (sim-1): TradingSystemDown (job=trading-engine)
  rule:       trading-down (rules.yml:3)
  severity:   P0
  identity:   {{alertname="TradingSystemDown", job="trading-engine"}}
  opened:     +0s (2026-01-05T15:00:07.412Z)
  acknowledged: +2m (2026-01-05T15:02:07.412Z) (paging stops; updates go on until resolved)
  status at the end of the plan: acknowledged
  playbook:   halt - stop trading
    1. stop-trading (http, timeout 10s) at +0s
         method: POST
         url: http://trading.test/admin/trading/emergency-stop
         headers: {{"Authorization": "Bearer <redacted>"}}
         json: {{"incident": "sim-1", "reason": "Trading system is down"}}
         retries: 3
         backoff: 0.5
    2. cancel-orders (alpaca.cancel_all_orders, timeout 10s) at +0s
         [until] result.data.orders_after == 0 (checked every 5s for up to 1m; repeats: built in; then on_failure)
  escalation: policy P0
    step 1 after 0s: pager, chat (unless acknowledged)
    step 2 after 5m: backup (unless acknowledged)
    updates every 15m: chat (until resolved)
  notifications:
    +0s      2026-01-05T15:00:07.412Z  page     pager (pagerduty)
    +0s      2026-01-05T15:00:07.412Z  page     chat (slack)
    +2m      2026-01-05T15:02:07.412Z  ack      pager (pagerduty)
    +2m      2026-01-05T15:02:07.412Z  ack      chat (slack)
    +5m      2026-01-05T15:05:07.412Z  page     backup: not sent, incident acknowledged
    +15m     2026-01-05T15:15:07.412Z  update   chat (slack)
    +30m     2026-01-05T15:30:07.412Z  update   chat (slack)
    +45m     2026-01-05T15:45:07.412Z  update   chat (slack)
  on resolve: would notify pager, chat; pending pages and updates are cancelled; actions already taken stay done
"""
    assert TOKEN not in r.stdout


def test_nobody_acknowledging_escalates_and_at_moves_the_start() -> None:
    """Without --ack-at the 5-minute step pages the backup; --at sets when the payload arrives."""
    r = simulate(str(TESTDATA / "trading-system-down-firing.json"), "--at", "2026-01-05T16:00:00+01:00",
                 "--until", "20m")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Plan from 2026-01-05T15:00:00.000Z until +20m (2026-01-05T15:20:00.000Z)\n")
    assert "    +5m      2026-01-05T15:05:00.000Z  page     backup (pagerduty)\n" in r.stdout
    assert "not sent" not in r.stdout


def test_a_group_of_captured_alerts_splits_by_rule_and_identity() -> None:
    """Alertmanager's 3-alert group: two critical instances are two P2 incidents, the third is caught."""
    r = simulate(str(TESTDATA / "am025-group-firing.json"))
    assert r.returncode == 0, r.stderr
    heads = [x for x in r.stdout.splitlines() if x.startswith(("Incident ", "  rule:", "  severity:"))]
    assert heads == [
        "Incident 1 (sim-1): HarnessGroup (instance=a:9100)", "  rule:       harness-critical (rules.yml:8)",
        "  severity:   P2",
        "Incident 2 (sim-2): HarnessGroup (instance=b:9100)", "  rule:       harness-critical (rules.yml:8)",
        "  severity:   P2",
        "Incident 3 (sim-3): HarnessGroup", "  rule:       catch-all (built-in: no rule matched)",
        "  severity:   P3",
    ]


def test_a_resolved_payload_shows_what_resolving_does() -> None:
    """A captured resolved alert is taken as firing since its startsAt: paged, then resolved at endsAt."""
    r = simulate(str(TESTDATA / "am025-prometheus-resolved.json"))
    assert r.returncode == 0, r.stderr
    assert "  firing at +0s (2026-11-22T01:39:25.710Z); resolved at +3s (2026-11-22T01:39:28.710Z)\n" in r.stdout
    assert "    +3s      2026-11-22T01:39:28.710Z  resolve  chat (slack)\n" in r.stdout
    assert "  on resolve: notified chat;" in r.stdout


@pytest.mark.parametrize("path", PAYLOADS, ids=[p.name for p in PAYLOADS])
def test_json_output_round_trips_and_renders_the_same_text(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--format json is plain JSON; the text rendered from it equals the text output (in-process CLI)."""
    monkeypatch.setenv("TRADING_ADMIN_TOKEN", TOKEN)
    args = ["simulate", str(path), "--ack-at", "1m", "--config", str(CONFIG)]
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert json.loads(json.dumps(data)) == data
    assert main(args) == 0
    assert render_text(data) == capsys.readouterr().out
    assert data["incidents"], "every captured payload opens an incident"
    assert {"rule", "severity", "identity", "playbook", "escalation", "notifications"} <= set(data["incidents"][0])
    assert TOKEN not in json.dumps(data)


def test_the_payload_can_come_from_stdin() -> None:
    """'-' reads the payload from standard input."""
    r = simulate("-", stdin=(TESTDATA / "am025-single-firing.json").read_text())
    assert r.returncode == 0, r.stderr
    assert "Incident 1 (sim-1): HarnessSingle" in r.stdout


def test_the_shipped_config_simulates_with_no_environment() -> None:
    """With the shipped runbookd.yml and rules and nothing set, simulate still plans (unset secret: empty)."""
    r = simulate(str(TESTDATA / "trading-system-down-firing.json"), config=ROOT / "runbookd.yml")
    assert r.returncode == 0, r.stderr
    assert "  rule:       trading-system-down (rules/trading.yml:" in r.stdout
    assert "  playbook:   emergency-shutdown - " in r.stdout


def test_bad_input_is_an_error() -> None:
    """A malformed payload exits 1 naming the field; a time without zone is a usage error (2)."""
    r = simulate("-", stdin='{"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}')
    assert r.returncode == 1
    assert r.stderr.startswith("error: -: alerts[0].labels: required field is missing")
    r = simulate(str(TESTDATA / "am025-single-firing.json"), "--at", "2026-01-05T15:00:00")
    assert r.returncode == 2 and "no time zone" in r.stderr
    r = simulate(str(TESTDATA / "nothing.json"))
    assert r.returncode == 1 and "cannot read" in r.stderr


async def test_simulate_agrees_with_what_serve_does(fakes: Any, make_runbookd: Any) -> None:
    """The same alert through the real pipeline and through simulate: same rule, severity, identity,
    steps with the same rendered parameters, and the same first pages."""
    rb = await make_runbookd(fakes)
    body = payload(alert(detail="{{ 7*7 }}"))
    assert (await rb.post_alerts(body)).status == 200
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    started = [e["data"] for e in detail["timeline"] if e["kind"] == "step.started"]
    sent = sorted((e["data"]["kind"], e["data"]["receiver"]) for e in detail["timeline"]
                  if e["kind"] == "notify.ok" and e["data"]["kind"] != "refresh")

    s = rb.c.settings
    alerts, start = alerts_from_payload(parse_payload(json.dumps(body).encode()), rb.clock.now())
    p = plan(rb.c.rules.get(), alerts, until=start, deployment=Deployment.from_settings(s))
    [sim] = p["incidents"]
    assert (sim["rule"], sim["severity"], sim["identity"]) == (inc["rule"], inc["severity"], inc["labels"])
    assert sim["rules_version"] == inc["rules_version"]
    assert [x["name"] for x in sim["playbook"]["steps"]] == [x["step"] for x in started]
    for simulated, real in zip(sim["playbook"]["steps"], started, strict=True):
        params = json.loads(json.dumps(simulated["params"]).replace("sim-1", inc["id"]))
        assert contained(params, real["params"]), (params, real["params"])
    assert sorted((n["kind"], n["receiver"]) for n in sim["notifications"]) == sent
