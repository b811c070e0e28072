"""Paging benchmark: the cost of a page and an update by incident size, and alert-in → first-page latency.

Issue 13 item 7. Two parts:

1. **Cost by incident size** (in-process, SQLite, the fake clock, the fake Slack and PagerDuty servers):
   one incident holding 10, 1,000 and 20,000 alerts (and an ``alert.firing`` event each); then a page
   row (PagerDuty trigger) and an update row (Slack thread reply) are enqueued and the dispatcher's run
   that reads, renders, sends and commits it is timed (median of ``--repeat``, milliseconds). Goal: flat
   in incident size within 2x.
2. **Latency against ``runbookd serve``** (SQLite, the fakes of ``python -m tests.fakes.run``, as
   bench/faults.py): an alert's webhook request sent → the fake PagerDuty receiving its incident's
   trigger, and → the fake Slack receiving its page. *Light load*: ``--light`` incidents, one alert
   each, one every 1.2 s (under Slack's one message per second per channel). *Storm*: 5,000 alerts in
   10 s over 200 incidents (every 0.1 s, 50 alerts in 5 requests of 10, one request per incident), each
   incident paging PagerDuty and one Slack channel. Each phase starts with one untimed warm-up page
   (the first connection to each vendor). Goals: light p99 <= 100 ms; the storm's pages all
   out within 30 s, Slack at most one message per second per channel (after a burst of 3).

Usage: ``.venv/bin/python bench/paging.py [--sizes 10,1000,20000] [--repeat 5] [--skip-serve]
[--tree DIR]``. ``--tree`` runs part 1 on another checkout (A/B against the code before a change).
Several minutes: the storm's Slack pages at one per second take ~200 s to drain, so the run waits
``--drain`` seconds (default 240) for them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

RULES: dict[str, Any] = {
    "rules": [{"name": "bench", "matchers": ['alertname="RunbookdPagingBench"'], "severity": "P0",
               "group_by": ["alertname", "instance"]}],
    "receivers": [{"name": "pd", "pagerduty": {"routing_key": "default", "severity": "critical"}},
                  {"name": "slack", "slack": {"channel": "#critical"}}],
    "escalation_policies": {"P0": {"steps": [{"after": "0s", "notify": ["pd", "slack"]}],
                                   "updates": {"every": "1h", "notify": ["slack"]}}},
}


def pct(xs: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``xs`` by nearest rank."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1e6):06d}Z"


def alert(instance: str, n: int, starts: float) -> dict[str, Any]:
    """One firing alert of the bench rule (``instance`` is the incident, ``n`` tells its alerts apart)."""
    return {"status": "firing", "labels": {"alertname": "RunbookdPagingBench", "instance": instance, "pod": f"p{n}"},
            "annotations": {"summary": f"bench {instance}"}, "startsAt": stamp(starts),
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": uuid.uuid4().hex[:16]}


def body(alerts: list[dict[str, Any]], group: str) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "runbookd", "groupKey": group, "groupLabels": {},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093", "truncatedAlerts": 0,
            "alerts": alerts}


# -- part 1: cost by incident size ------------------------------------------------------------------
async def cost(sizes: list[int], repeat: int) -> dict[int, dict[str, float]]:
    """Median milliseconds of the dispatcher run that sends a page / an update, per incident size."""
    import yaml
    from aiohttp.test_utils import TestClient, TestServer

    from receiver.app import build_app, build_components
    from receiver.clock import FakeClock
    from tests.conftest import Fakes, settings_for
    from tests.fakes import running
    from tests.fakes.alpaca import FakeAlpaca
    from tests.fakes.pagerduty import FakePagerDuty
    from tests.fakes.slack import FakeSlack
    from tests.fakes.trading import FakeTradingSystem

    out: dict[int, dict[str, float]] = {}
    async with running(FakeSlack()) as slack, running(FakePagerDuty()) as pd, \
            running(FakeAlpaca()) as alpaca, running(FakeTradingSystem("t")) as trading:
        fakes = Fakes(slack, pd, alpaca, trading)
        for size in sizes:
            work = Path(tempfile.mkdtemp(prefix="rb-bench-paging-"))
            rules = work / "rules.yml"
            rules.write_text(yaml.safe_dump(RULES, sort_keys=False))
            clock = FakeClock(time.time())
            c = build_components(settings_for(work, fakes, rule_files=[str(rules)], log_level="warning"),
                                 clock=clock)
            client = TestClient(TestServer(build_app(c, run_dispatcher=False)))
            await client.start_server()
            try:
                t0 = clock.now()
                for start in range(0, size, 500):
                    alerts = [alert("big", n, t0 - size + n) for n in range(start, min(size, start + 500))]
                    r = await client.post("/webhook/alertmanager", json=body(alerts, "big"))
                    assert r.status == 200, await r.text()
                assert c.dispatcher is not None
                while await c.dispatcher.run_once():
                    pass
                [inc] = await c.store.read(lambda tx: tx.list_incidents(status=None, alertname=None, limit=5))
                iid = inc.id
                held = await c.store.read(lambda tx, iid=iid: len(tx.get_incident(iid).alerts))
                assert held == size, (held, size)
                times: dict[str, list[float]] = {"page": [], "update": []}
                for k in range(repeat):
                    for kind, payload in (("page", {"receiver": "pd", "step": 1, "epoch": 0}),
                                          ("update", {"epoch": 0, "n": 1000 + k})):
                        clock.advance(5)
                        now = clock.now()
                        key = f"{kind}:{inc.id}:bench-{k}"
                        await c.store.transaction(lambda tx, key=key, kind=kind, payload=payload, iid=iid, now=now:
                                                  tx.enqueue(key, kind, iid, payload, now, now))
                        began = time.perf_counter()
                        await c.dispatcher.run_once()
                        times[kind].append((time.perf_counter() - began) * 1000)
                out[size] = {k: statistics.median(v) for k, v in times.items()}
            finally:
                await client.close()
                shutil.rmtree(work, ignore_errors=True)
    return out


# -- part 2: latency against runbookd serve ---------------------------------------------------------
def serve_latency(light: int, drain: float, phases: list[str]) -> dict[str, Any]:
    """Light-load and storm latencies (seconds) of the PagerDuty trigger and the Slack page."""
    import yaml

    sys.path[:0] = [str(REPO)]
    from tests.e2e.harness import Fakes, Runbookd, wait_until

    work = Path(tempfile.mkdtemp(prefix="rb-bench-paging-serve-"))
    fakes = Fakes(work / "fakes")
    fakes.start()
    results: dict[str, Any] = {}
    try:
        for phase in phases:
            fakes.reset()
            rules = work / "rules.yml"
            rules.write_text(yaml.safe_dump(RULES, sort_keys=False))
            rb = Runbookd(work / f"rb-{phase}", fakes, overrides={"rule_files": [str(rules)], "log_level": "warning"})
            rb.start()
            try:
                tag = uuid.uuid4().hex[:6]
                n = light if phase == "light" else 200
                # One page first, not timed: the first connection to each vendor and thread start-up.
                asyncio.run(post_light(rb.webhook_url, f"warm{tag}", 1))
                wait_until(lambda: bool(fakes.pagerduty_events("trigger") and fakes.slack_pages("#critical")),
                           timeout=30, interval=0.1, message="the warm-up page")
                time.sleep(1.5)
                fakes.reset()
                sent = asyncio.run(post_light(rb.webhook_url, tag, n) if phase == "light"
                                   else post_storm(rb.webhook_url, tag, n))
                began = min(sent.values())

                def pd_first() -> dict[str, float]:
                    first: dict[str, float] = {}
                    for r in fakes.requests("pagerduty", "POST", "/v2/enqueue"):
                        if r["json"].get("event_action") == "trigger":
                            first.setdefault(str(r["json"]["payload"]["source"]), r["time"])
                    return first

                wait_until(lambda n=n: len(pd_first()) >= n, timeout=120, interval=0.2, message=f"{n} triggers")
                deadline = time.time() + (drain if phase == "storm" else 30)
                while len(fakes.slack_pages("#critical")) < n and time.time() < deadline:
                    time.sleep(0.5)
                pd = pd_first()
                pages = fakes.requests("slack", "POST", "/api/chat.postMessage")
                page_times = sorted(r["time"] for r in pages)
                gaps = [b - a for a, b in zip(page_times, page_times[3:], strict=False)]
                results[phase] = {
                    "incidents": n, "alerts": sum(1 for _ in sent) if phase == "light" else 5000,
                    "pagerduty": [pd[i] - sent[i] for i in sent if i in pd],
                    "pagerduty_all_out": max(pd.values()) - began,
                    "slack_pages": len(page_times),
                    "slack_all_out": (page_times[-1] - began) if page_times else None,
                    "slack_within_30s": sum(1 for t in page_times if t - began <= 30),
                    "slack_min_4_post_span": min(gaps) if gaps else None,
                }
            finally:
                rb.close()
    finally:
        fakes.close()
        shutil.rmtree(work, ignore_errors=True)
    return results


async def post_light(url: str, tag: str, n: int) -> dict[str, float]:
    """One alert (a new incident) every 1.2 s; each request's send time by instance."""
    import aiohttp

    sent: dict[str, float] = {}
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            inst = f"bench-{tag}-{i:03d}"
            sent[inst] = time.time()
            async with http.post(url, json=body([alert(inst, 0, time.time())], inst)) as r:
                assert r.status == 200, await r.text()
            await asyncio.sleep(1.2)
    return sent


async def post_storm(url: str, tag: str, n: int) -> dict[str, float]:
    """5,000 alerts in 10 s over ``n`` incidents: every 0.1 s, 5 requests of 10 alerts (one incident
    each, round robin). Returns the send time of each incident's first request."""
    import aiohttp

    sent: dict[str, float] = {}
    start = time.time()
    async with aiohttp.ClientSession() as http:
        async def one(inst: str, alerts: list[dict[str, Any]]) -> None:
            sent.setdefault(inst, time.time())
            async with http.post(url, json=body(alerts, inst)) as r:
                assert r.status == 200, await r.text()

        for tick in range(100):
            await asyncio.sleep(max(0.0, start + tick * 0.1 - time.time()))
            batch = []
            for j in range(5):
                k = (tick * 5 + j) % n
                inst = f"bench-{tag}-{k:03d}"
                batch.append(one(inst, [alert(inst, tick * 10 + m, time.time()) for m in range(10)]))
            await asyncio.gather(*batch)
    return sent


def summary(xs: list[float]) -> str:
    ms = [x * 1000 for x in xs]
    return f"p50 {statistics.median(ms):7.1f} ms   p99 {pct(ms, 99):7.1f} ms   max {max(ms):7.1f} ms   (n={len(ms)})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--sizes", default="10,1000,20000")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--light", type=int, default=40, help="incidents of the light-load phase")
    p.add_argument("--phases", default="light,storm", help="phases of part 2 to run")
    p.add_argument("--drain", type=float, default=240.0, help="seconds to wait for the storm's Slack pages")
    p.add_argument("--skip-serve", action="store_true", help="part 1 only")
    p.add_argument("--tree", type=Path, default=None, help="run part 1 on this checkout's receiver/")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--cost-only-json", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.cost_only_json is not None:  # the child of --tree
        args.cost_only_json.write_text(json.dumps(asyncio.run(cost(sizes, args.repeat))))
        return 0
    if args.tree is not None:
        out = Path(tempfile.mkdtemp()) / "cost.json"
        env = {**os.environ, "PYTHONPATH": f"{args.tree}:{REPO}"}
        subprocess.run([sys.executable, __file__, "--sizes", args.sizes, "--repeat", str(args.repeat),
                        "--cost-only-json", str(out)], env=env, check=True, cwd=args.tree)
        costs = {int(k): v for k, v in json.loads(out.read_text()).items()}
    else:
        sys.path[:0] = [str(REPO)]
        costs = asyncio.run(cost(sizes, args.repeat))
    print(f"cost of one notification by incident size (median of {args.repeat}, ms; read + render + send + commit)")
    for size, c in costs.items():
        print(f"  {size:6d} alerts   page (PagerDuty) {c['page']:7.1f} ms   update (Slack reply) {c['update']:7.1f} ms")
    flat = max(max(c[k] for c in costs.values()) / max(1e-9, min(c[k] for c in costs.values()))
               for k in ("page", "update"))
    print(f"  largest / smallest: {flat:.2f}x (goal <= 2x)")
    ok = flat <= 2.0
    figures: dict[str, Any] = {"cost_ms": costs}
    if not args.skip_serve:
        lat = serve_latency(args.light, args.drain, args.phases.split(","))
        figures["serve"] = lat
        for phase, r in lat.items():
            print(f"{phase}: {r['incidents']} incidents, {r['alerts']} alerts")
            print(f"  alert-in -> PagerDuty trigger: {summary(r['pagerduty'])}; all out after "
                  f"{r['pagerduty_all_out']:.1f} s")
            print(f"  Slack pages: {r['slack_pages']} in all, {r['slack_within_30s']} within 30 s, last after "
                  f"{r['slack_all_out'] or 0:.1f} s; shortest span of 4 consecutive posts "
                  f"{r['slack_min_4_post_span'] or 0:.2f} s (>= ~1 s: one per second after a burst of 3)")
        if "light" in lat:
            ok = ok and pct(lat["light"]["pagerduty"], 99) <= 0.1
        if "storm" in lat:
            ok = ok and lat["storm"]["pagerduty_all_out"] <= 30
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
