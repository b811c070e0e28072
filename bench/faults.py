"""Faults benchmark: the PagerDuty page's latency with Slack healthy and with Slack hanging.

Issue 11 item 6: Slack calls that hang must not delay the PagerDuty page (bulkheads). Each run
starts a fresh ``runbookd serve`` (SQLite, the repository's code or ``--tree``) against the fakes
(``python -m tests.fakes.run``), with one bench rule: ``--incidents`` P0 alerts of distinct
``instance`` (so as many incidents), each paging PagerDuty and Slack at once and running one
emergency step (an ``http`` POST to the fake trading system). The alerts are posted concurrently,
one request each; an incident's PagerDuty latency is the time from its webhook request being sent to
the fake PagerDuty receiving its trigger (both clocks are this machine's), likewise for the
emergency step.

Runs: ``healthy`` (Slack answers at once), then ``hung`` (the fake Slack holds every
``chat.postMessage`` unanswered until the run ends, so each Slack call waits for runbookd's read
time-out of 10 s). Prints p50/p99/max per run and the ratio hung/healthy of the p99 (goal ≤ 2).
Slack's pages then go out when the fake is released; they are counted but not timed.

Usage: ``.venv/bin/python bench/faults.py [--incidents 40] [--repeat 2] [--tree DIR]``. About a minute.
Exit status 0 when the p99 ratio is within ``--target`` (2.0), else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]
from tests.e2e.harness import Fakes, Runbookd, wait_until  # noqa: E402

RULES = {
    "rules": [{"name": "bench-p0", "matchers": ['alertname="RunbookdFaultBench"'], "severity": "P0",
               "group_by": ["alertname", "instance"], "playbook": "bench-stop"}],
    "playbooks": {"bench-stop": {"steps": [{
        "name": "stop-trading", "action": "http", "method": "POST", "idempotent": True,
        "url": "{{ vars.trading_api_url }}/admin/trading/emergency-stop",
        "headers": {"Authorization": "Bearer {{ secrets.trading_admin_token }}"},
        "json": {"reason": "bench", "incident": "{{ incident.id }}"}}]}},
    "receivers": [{"name": "pd", "pagerduty": {"routing_key": "default", "severity": "critical"}},
                  {"name": "slack", "slack": {"channel": "#critical"}}],
    "escalation_policies": {"P0": {"steps": [{"after": "0s", "notify": ["pd", "slack"]}]}},
}


def pct(xs: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``xs`` by nearest rank."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def alert(instance: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"status": "firing", "labels": {"alertname": "RunbookdFaultBench", "instance": instance, "job": "bench"},
            "annotations": {"summary": f"bench {instance}"}, "startsAt": now, "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": uuid.uuid4().hex[:16]}


async def post_all(url: str, instances: list[str]) -> dict[str, float]:
    """Post one alert per instance concurrently; return each request's send time (epoch s)."""
    sent: dict[str, float] = {}
    async with aiohttp.ClientSession() as http:
        async def one(inst: str) -> None:
            body = {"version": "4", "status": "firing", "receiver": "runbookd", "groupKey": inst,
                    "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                    "externalURL": "http://am:9093", "truncatedAlerts": 0, "alerts": [alert(inst)]}
            sent[inst] = time.time()
            async with http.post(url, json=body) as r:
                assert r.status == 200, await r.text()

        await asyncio.gather(*(one(i) for i in instances))
    return sent


def run(fakes: Fakes, work: Path, n: int, hung: bool, tree: Path | None) -> dict[str, list[float]]:
    """One run: fresh runbookd, ``n`` P0 incidents; latencies (s) of the PagerDuty trigger and the step."""
    fakes.reset()
    if hung:
        fakes.http.post(f"{fakes.urls['slack']}/_hang", json={"path": "/api/chat.postMessage"}).raise_for_status()
    rules = work / "bench-faults-rules.yml"
    rules.write_text(yaml.safe_dump(RULES, sort_keys=False))
    env = {"PYTHONPATH": f"{tree}:{REPO}"} if tree is not None else None  # the fakes still come from here
    rb = Runbookd(work / f"rb-{uuid.uuid4().hex[:6]}", fakes,
                  overrides={"rule_files": [str(rules)], "log_level": "warning"}, extra_env=env)
    rb.start()
    try:
        tag = uuid.uuid4().hex[:6]
        instances = [f"bench-{tag}-{i:03d}" for i in range(n)]
        sent = asyncio.run(post_all(rb.webhook_url, instances))

        def pd_triggers() -> list[dict[str, Any]]:
            return [r for r in fakes.requests("pagerduty", "POST", "/v2/enqueue")
                    if r["json"]["event_action"] == "trigger"
                    and r["json"]["payload"]["source"].startswith(f"bench-{tag}")]

        wait_until(lambda: len(pd_triggers()) >= n, timeout=120, interval=0.2, message=f"{n} PagerDuty triggers")
        wait_until(lambda: len(fakes.requests("trading", "POST", "/admin/trading/emergency-stop")) >= n,
                   timeout=120, interval=0.2, message=f"{n} emergency steps")
        pd = {}
        for r in pd_triggers():
            pd.setdefault(r["json"]["payload"]["source"], r["time"])
        inc_of_step = {}
        for r in fakes.requests("trading", "POST", "/admin/trading/emergency-stop"):
            inc_of_step.setdefault(r["json"]["incident"], r["time"])
        by_instance = {i["labels"].get("instance"): i["id"] for i in rb.incidents()}
        steps = [inc_of_step[by_instance[i]] - sent[i] for i in instances if by_instance.get(i) in inc_of_step]
        out = {"pagerduty": [pd[i] - sent[i] for i in instances], "step": steps}
        if hung:
            fakes.http.post(f"{fakes.urls['slack']}/_release").raise_for_status()
        return out
    finally:
        if hung:
            fakes.http.post(f"{fakes.urls['slack']}/_release")
        rb.close()


def summary(xs: list[float]) -> str:
    return f"p50 {statistics.median(xs):6.3f} s   p99 {pct(xs, 99):6.3f} s   max {max(xs):6.3f} s   (n={len(xs)})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--incidents", type=int, default=40)
    p.add_argument("--repeat", type=int, default=1, help="runs of each kind, alternating; the best p99 counts")
    p.add_argument("--target", type=float, default=2.0, help="goal: hung p99 / healthy p99 at most this")
    p.add_argument("--tree", type=Path, default=None, help="serve this checkout instead (A/B comparison)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rb-bench-faults-"))
    fakes = Fakes(work / "fakes")
    fakes.start()
    results: dict[str, list[dict[str, list[float]]]] = {"healthy": [], "hung": []}
    try:
        for _ in range(args.repeat):
            for kind in ("healthy", "hung"):
                results[kind].append(run(fakes, work, args.incidents, kind == "hung", args.tree))
    finally:
        fakes.close()
        shutil.rmtree(work, ignore_errors=True)
    best = {k: min(v, key=lambda r: pct(r["pagerduty"], 99)) for k, v in results.items()}
    print(f"{args.incidents} P0 incidents, each paging PagerDuty and Slack and running one emergency step")
    for kind in ("healthy", "hung"):
        print(f"  {kind:8s} PagerDuty trigger: {summary(best[kind]['pagerduty'])}")
        if best[kind]["step"]:
            print(f"  {kind:8s} emergency step:    {summary(best[kind]['step'])}")
    ratio = pct(best["hung"]["pagerduty"], 99) / max(1e-9, pct(best["healthy"]["pagerduty"], 99))
    print(f"  PagerDuty p99 hung/healthy: {ratio:.2f}x (goal <= {args.target:g}x)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio}, indent=1))
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    raise SystemExit(main())
