"""Screenshots of every console page for docs/console.md, taken in Debian's Chromium.

Starts an in-process runbookd on a temporary SQLite store with the demo rules below and a fake Slack
(tests/fakes), fires a few alerts through the real webhook, runs the dispatcher, signs in as an admin
and saves one PNG per page into docs/console/ (1100 px wide, at most 1400 px tall, the top of each
page). Run it again after changing a template: ``.venv/bin/python docs/screenshots.py``. Needs
``/usr/bin/chromium`` (``apt-get install -y chromium``); Playwright downloads nothing. Where
``pngquant`` is installed (``apt-get install -y pngquant``) the PNGs are then quantised, a third of the
size.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from receiver.access import tokens  # noqa: E402
from receiver.app import build_app, build_components  # noqa: E402
from receiver.clock import FakeClock  # noqa: E402
from receiver.settings import parse_settings  # noqa: E402
from tests.conftest import alert, payload  # noqa: E402
from tests.console.browser import chromium  # noqa: E402
from tests.fakes import running  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

OUT = ROOT / "docs" / "console"
RULES = """
rules:
  - name: trading-down
    matchers: ['alertname="TradingSystemDown"']
    severity: P0
    playbook: halt-trading
  - name: disk
    matchers: ['alertname="DiskFilling"']
    severity: P2
  - name: latency-shadow
    matchers: ['alertname="OrderLatencyHigh"']
    severity: P3
    mode: shadow
playbooks:
  halt-trading:
    steps:
      - name: note
        action: log
        message: "trading system down on {{ alert.labels.instance }}"
      - name: halt
        action: log
        message: "halt requested for {{ alert.labels.instance }}"
        approval: {approvers: [ada, abe], timeout: 10m, on_timeout: reject}
receivers:
  - name: slack-critical
    slack: {channel: "#critical"}
  - name: slack-monitoring
    slack: {channel: "#monitoring"}
escalation_policies:
  P0:
    steps: [{after: 0s, notify: [slack-critical]}]
  P2:
    steps: [{after: 0s, notify: [slack-monitoring]}]
"""
PEOPLE = [{"name": "ada", "role": "admin"}, {"name": "abe", "role": "approver"}]


async def main() -> int:
    """Serve a demo runbookd beside a fake Slack and photograph every console page into docs/console/."""
    OUT.mkdir(parents=True, exist_ok=True)
    async with running(FakeSlack(token="xoxb-shots")) as slack:
        with tempfile.TemporaryDirectory(prefix="rb-shots-") as tmp:
            (Path(tmp) / "rules.yml").write_text(RULES)
            settings = parse_settings({
                "storage": f"sqlite:///{tmp}/rb.db", "rule_files": ["rules.yml"], "dry_run": False,
                "admin": {"token": "shots"}, "access": {"people": PEOPLE}, "webhook": {"ingest_process": False},
                "slack": {"token": "xoxb-shots", "api_url": f"{slack.url}/api/", "signing_secret": "s"},
            }, base_dir=tmp)
            clock = FakeClock(1_800_000_000.0)
            c = build_components(settings, clock=clock)
            runner = web.AppRunner(build_app(c, run_dispatcher=False), handler_cancellation=True,
                                   shutdown_timeout=1.0)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
            try:
                await shoot(c, clock, base)
            finally:
                await runner.cleanup()
    if shutil.which("pngquant"):
        subprocess.run(["pngquant", "--force", "--ext", ".png", "--quality", "70-95", "--speed", "1",
                        *map(str, sorted(OUT.glob("*.png")))], check=True)
    print(f"screenshots written to {OUT.relative_to(ROOT)}/")
    return 0


async def post(base: str, body: dict[str, Any]) -> None:
    """POST a webhook body over HTTP, as Alertmanager does."""
    import aiohttp
    async with aiohttp.ClientSession() as s, s.post(f"{base}/webhook/alertmanager", json=body) as r:
        assert r.status == 200, await r.text()


async def shoot(c: Any, clock: FakeClock, base: str) -> None:
    """Fire the demo alerts, sign in as ada and save one PNG per page (the actions between them too)."""
    assert c.dispatcher is not None
    disk = [alert("DiskFilling", fingerprint=f"d{i:015x}", instance=f"db-{i}:9100") for i in range(3)]
    await post(base, payload(*disk))
    await c.dispatcher.run_once()
    clock.advance(420)
    await post(base, payload(alert("OrderLatencyHigh", fingerprint="e000000000000001")))
    clock.advance(300)
    await post(base, payload(alert("TradingSystemDown", fingerprint="f000000000000001")))
    await c.dispatcher.run_once()
    now = clock.now()
    secret = await c.store.transaction(lambda tx: tokens.create(tx, "ada", None, by="docs", now=now).secret)
    incidents = await c.store.read(lambda tx: tx.incident_page(status=None, severity=None, alertname=None, limit=10))
    ids = {i.rule: i.id for i, _ in incidents}
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1100, "height": 800})

        async def snap(name: str, path: str | None = None, *, height: int = 1400) -> None:
            if path is not None:
                await page.goto(base + path)
            full = await page.evaluate("document.documentElement.scrollHeight")
            await page.screenshot(path=str(OUT / f"{name}.png"), clip={"x": 0, "y": 0, "width": page.viewport_size[
                "width"] if page.viewport_size else 1100, "height": min(height, full)}, full_page=True)
            print(f"  {name}.png")

        await snap("login", "/login", height=420)
        await page.get_by_label("Personal token").fill(secret)
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        await snap("incidents")
        await snap("incident", f"/incidents/{ids['trading-down']}")
        await page.goto(base + f"/incidents/{ids['disk']}")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Acknowledge").click()
        await snap("postmortem", f"/incidents/{ids['disk']}/postmortem")
        await page.goto(base + "/automation")
        await page.get_by_label("Reason").fill("broker maintenance until 22:00 UTC")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Pause automation").click()
        await snap("automation", height=900)
        await page.goto(base + "/rules")
        await page.get_by_label("Alertmanager webhook body (JSON)").fill(json.dumps(payload(alert("DiskFilling"))))
        async with page.expect_navigation():
            await page.get_by_role("button", name="Simulate").click()
        await snap("rules")
        await snap("audit", "/audit", height=1000)
        await page.set_viewport_size({"width": 390, "height": 800})
        await snap("incidents-narrow", "/", height=1000)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
