"""Hot reload of the rules (POST /-/reload and SIGHUP), with alerts flowing.

A valid rule set is swapped in atomically and decides every incident opened after it; work already in
flight keeps the rule-file version it started with (and says so on its timeline); an invalid set leaves
the old rules serving and turns ``runbookd_config_last_reload_successful`` to 0, as Prometheus does.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from receiver.rules import load_rule_files
from tests.conftest import ADMIN, ROOT, alert, payload

RULES = """
rules:
  - name: trading-down
    matchers: ['alertname="TradingSystemDown"']
    severity: {severity}
    playbook: halt
    group_by: [alertname, job]
playbooks:
  halt:
    steps:
      - name: call-trading
        action: http
        url: "{{{{ vars.trading_api_url }}}}{path}"
        headers:
          Authorization: "Bearer {{{{ secrets.trading_admin_token }}}}"
      - name: note
        action: log
        message: "{version_note}"
receivers:
  - name: chat
    slack: {{channel: "#critical"}}
escalation_policies:
  P0:
    steps: [{{after: 0s, notify: [chat]}}]
  P1:
    steps: [{{after: 0s, notify: [chat]}}]
  P3:
    steps: [{{after: 0s, notify: [chat]}}]
"""
V1 = RULES.format(severity="P0", path="/admin/trading/emergency-stop", version_note="v1")
V2 = RULES.format(severity="P1", path="/admin/circuit-breakers/enable-all", version_note="v2")
BROKEN = V1.replace("playbook: halt", "playbook: hlat")


def write(folder: Path, text: str, pattern: str | None = None) -> str:
    """Write the rule file and return the version it loads as under ``pattern`` (default: the absolute
    glob the in-process runbookd uses; the version hashes file names as shown)."""
    (folder / "rules.yml").write_text(textwrap.dedent(text))
    if text == BROKEN:
        return ""
    return load_rule_files([pattern or str(folder / "*.yml")], str(folder.parent)).version


async def start(make_runbookd: Any, fakes: Any, tmp_path: Path) -> tuple[Any, Path, str]:
    """An in-process runbookd serving V1 from ``tmp_path/rules``; returns it, the folder and v1."""
    folder = tmp_path / "rules"
    folder.mkdir()
    v1 = write(folder, V1)
    rb = await make_runbookd(fakes, rule_files=[str(folder / "*.yml")])
    return rb, folder, v1


async def reload(rb: Any) -> tuple[int, dict[str, Any]]:
    """POST /-/reload: status and JSON body."""
    r = await rb.client.post("/-/reload")
    return r.status, await r.json()


async def reload_metric(rb: Any) -> float:
    """runbookd_config_last_reload_successful as /metrics shows it."""
    text = await (await rb.client.get("/metrics")).text()
    line = next(x for x in text.splitlines() if x.startswith("runbookd_config_last_reload_successful "))
    return float(line.split()[1])


def trading_down(job: str, fp: str) -> dict[str, Any]:
    """A TradingSystemDown alert of ``job`` with fingerprint ``fp``."""
    return alert(fingerprint=fp, job=job)


async def incidents(rb: Any) -> dict[str, dict[str, Any]]:
    """Every incident, by its job label."""
    return {i["labels"]["job"]: i for i in await rb.api("/api/v1/incidents")}


async def test_a_valid_reload_decides_new_incidents_and_leaves_old_ones(
    fakes: Any, make_runbookd: Any, tmp_path: Path,
) -> None:
    """After a reload, new incidents carry the new version and severity; earlier ones keep theirs."""
    rb, folder, v1 = await start(make_runbookd, fakes, tmp_path)
    await rb.post_alerts(payload(trading_down("a", "f000000000000001")))
    await rb.run()
    v2 = write(folder, V2)
    assert await reload(rb) == (200, {"status": "success", "version": v2})
    await rb.post_alerts(payload(trading_down("b", "f000000000000002")))
    await rb.run()
    got = await incidents(rb)
    assert (got["a"]["rules_version"], got["a"]["severity"]) == (v1, "P0")
    assert (got["b"]["rules_version"], got["b"]["severity"]) == (v2, "P1")
    assert await reload_metric(rb) == 1


async def test_work_in_flight_keeps_the_version_it_started_with(
    fakes: Any, make_runbookd: Any, tmp_path: Path,
) -> None:
    """Steps enqueued before a reload run as they were then, and their timeline names that version."""
    rb, folder, v1 = await start(make_runbookd, fakes, tmp_path)
    await rb.post_alerts(payload(trading_down("a", "f000000000000001")))
    assert rb.c.dispatcher is not None
    await rb.c.dispatcher.process_alerts()  # the incident is open and its steps enqueued, none run yet
    v2 = write(folder, V2)
    assert (await reload(rb))[0] == 200
    await rb.run()
    assert fakes.trading.hits("/admin/trading/emergency-stop") == 1
    assert fakes.trading.hits("/admin/circuit-breakers/enable-all") == 0
    [inc] = await rb.api("/api/v1/incidents")
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    started = [e["data"] for e in detail["timeline"] if e["kind"] == "step.started"]
    assert [(s["step"], s["rules_version"]) for s in started] == [("call-trading", v1), ("note", v1)]
    assert started[1]["params"]["message"] == "v1"
    matched = next(e for e in detail["timeline"] if e["kind"] == "rule.matched")
    assert matched["data"]["rules_version"] == v1 != v2


async def test_an_invalid_reload_keeps_the_old_rules_and_flips_the_metric(
    fakes: Any, make_runbookd: Any, tmp_path: Path,
) -> None:
    """A broken rule file: 500 with the error as JSON, metric 0, old rules still deciding; a fix restores."""
    rb, folder, v1 = await start(make_runbookd, fakes, tmp_path)
    write(folder, BROKEN)
    status, body = await reload(rb)
    assert status == 500
    assert body["status"] == "error"
    assert body["error"] == f"{folder}/rules.yml:6: rule 'trading-down': playbook: unknown playbook 'hlat'"
    assert await reload_metric(rb) == 0
    assert rb.c.rules.get().version == v1
    await rb.post_alerts(payload(trading_down("a", "f000000000000001")))
    await rb.run()
    assert (await incidents(rb))["a"]["rules_version"] == v1
    assert fakes.trading.hits("/admin/trading/emergency-stop") == 1
    v2 = write(folder, V2)
    assert await reload(rb) == (200, {"status": "success", "version": v2})
    assert await reload_metric(rb) == 1


async def test_reloads_while_alerts_flow_drop_no_alert(fakes: Any, make_runbookd: Any, tmp_path: Path) -> None:
    """Alerts posted concurrently with valid and invalid reloads are all accepted and all in an incident,
    each decided by a version that was valid at the time."""
    rb, folder, v1 = await start(make_runbookd, fakes, tmp_path)
    v2 = write(folder, V2)  # on disk only: v1 serves until the first reload
    texts = [V2, BROKEN, V1, BROKEN, V2]
    statuses: list[int] = []
    reload_codes: list[int] = []

    async def post(i: int) -> None:
        """Post alert ``i`` and record the answer's status."""
        r = await rb.post_alerts(payload(trading_down(f"job-{i:02d}", f"{i:016x}")))
        statuses.append(r.status)

    async def flip(text: str) -> None:
        """Write ``text`` as the rule file and reload."""
        write(folder, text)
        reload_codes.append((await reload(rb))[0])

    for round_ in range(5):
        await asyncio.gather(*(post(round_ * 8 + k) for k in range(8)), flip(texts[round_]))
        await rb.run()
    await rb.run()
    assert statuses == [200] * 40
    assert reload_codes == [200, 500, 200, 500, 200]
    got = await incidents(rb)
    assert sorted(got) == [f"job-{i:02d}" for i in range(40)]
    assert {i["rules_version"] for i in got.values()} <= {v1, v2}
    assert {i["rules_version"] for i in got.values()} == {v1, v2}
    for i in got.values():
        assert i["severity"] == ("P0" if i["rules_version"] == v1 else "P1")
    assert await reload_metric(rb) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> str:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def _wait(fn: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = fn()
            if got:
                return got
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def test_sighup_reloads_a_running_serve(tmp_path: Path) -> None:
    """`runbookd serve`: SIGHUP with a broken file flips the metric to 0; with a valid one, new incidents
    carry the new version."""
    folder = tmp_path / "rules"
    folder.mkdir()
    write(folder, V1)
    port = _free_port()
    cfg = tmp_path / "runbookd.yml"
    cfg.write_text(f"listen: 127.0.0.1:{port}\nstorage: sqlite:///{tmp_path}/rb.db\nrule_files: [rules/*.yml]\n"
                   f"admin: {{token: {ADMIN}}}\nlog_format: console\nheartbeat: {{alertname: ''}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "receiver", "serve", "--config", str(cfg)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    base = f"http://127.0.0.1:{port}"

    def metric() -> float:
        """runbookd_config_last_reload_successful of the running serve."""
        line = next(x for x in _get(f"{base}/metrics").splitlines()
                    if x.startswith("runbookd_config_last_reload_successful "))
        return float(line.split()[1])

    try:
        _wait(lambda: _get(f"{base}/-/ready"))
        assert metric() == 1
        write(folder, BROKEN)
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: metric() == 0)
        v2 = write(folder, V2, "rules/*.yml")
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: metric() == 1)
        body = json.dumps(payload(trading_down("hup", "f00000000000000f"))).encode()
        req = urllib.request.Request(f"{base}/webhook/alertmanager", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
        [inc] = _wait(lambda: json.loads(_get(f"{base}/api/v1/incidents", ADMIN)))
        assert (inc["rules_version"], inc["severity"]) == (v2, "P1")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
