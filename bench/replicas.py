"""Replicas benchmark: one ``runbookd serve`` against two on the same PostgreSQL.

Two figures, each measured with one replica and then with two replicas on a fresh schema of the same
database (the PostgreSQL on 127.0.0.1:5432 unless ``--pg`` says otherwise):

1. **alerts/s** at 10 alerts per request: wrk posts webhook bodies whose alerts are all new (unique
   fingerprints, Lua script below) for ``--duration`` seconds over ``--connections`` connections in all;
   with two replicas, one wrk per replica gets half the connections. Every 200 is a durable commit.
   The alerts go to the catch-all rule of the shipped ``rules/*.yml`` (64 alert names, so 64 incidents).
2. **notifications/s**: ``--pages`` alerts with distinct identities (a bench rule grouping by
   ``instance``, severity P2, paging Slack at once) are posted as fast as the replicas take them; each
   opens an incident whose page goes to the fake Slack (``python -m tests.fakes.run``). The rate is
   pages over the time between the first and the last page the fake received; the fake also proves
   that every incident was paged exactly once.

For each phase the CPU time of every process involved is read from ``/proc/<pid>/stat`` (replicas,
PostgreSQL's backends of this run plus its WAL writer, checkpointer and background writer, the fakes,
wrk) and reported as cores used; ``other`` is whatever else kept the machine's CPUs busy meanwhile
(another session's build or benchmark: such a phase is disturbed, and the figures say by how much).
Before each phase the bench waits up to ``--wait-quiet`` seconds for an idle second. On a 2-core
machine the database, the load generator and the replicas share the CPUs, so the ratio two/one
replicas is printed next to that breakdown. The target (issue 6) is a ratio of at least 1.3 for both.

Each phase runs ``--repeat`` times, alternating one and two replicas; the best run of each counts and
every run is listed with the CPU other processes used meanwhile.

Usage: ``.venv/bin/python bench/replicas.py [--duration 6] [--connections 16] [--pages 1000] [--repeat 2]``.
Bounded: under two minutes with the defaults. Exit status 0 when both ratios reach ``--target``, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]
from payloads import GROUPS, now_rfc3339, template  # noqa: E402

from tests.e2e.harness import Fakes, Runbookd, wait_until  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
ALERTS_PER_REQUEST = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_HELPERS = ("walwriter", "checkpointer", "background writer")

LUA = r"""
local template = [==[@@TEMPLATE@@]==]
local prefix = "@@PREFIX@@"
local groups = @@GROUPS@@
local ts = "@@STARTS@@"
local counter = 0
local threads = 0

function setup(thread)
   thread:set("tid", threads)
   threads = threads + 1
end

function init(args)
   me = prefix .. string.format("%02x", tid)
   n = 0
end

function request()
   n = n + 1
   local id = me .. string.format("%07x", n)
   local body = template:gsub("@@ID@@", id):gsub("@@G@@", tostring(n % groups)):gsub("@@TS@@", ts)
   return wrk.format("POST", "/webhook/alertmanager", {["Content-Type"] = "application/json"}, body)
end
"""

BENCH_RULES = {
    "rules": [{"name": "bench-page", "matchers": ['alertname=~"RunbookdBench.*"'], "severity": "P2",
               "group_by": ["alertname", "instance"]}],
    "receivers": [{"name": "slack-bench", "slack": {"channel": "#bench"}}],
    "escalation_policies": {"P2": {"steps": [{"after": "0s", "notify": ["slack-bench"]}]}},
}


# -- CPU accounting -------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def busy_seconds() -> float:
    """CPU seconds all CPUs have spent not idle since boot (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def wait_quiet(limit: float, threshold: float = 0.3) -> float:
    """Wait up to ``limit`` s for a second in which the machine uses under ``threshold`` cores.

    Returns the cores used in the last second measured (other sessions' work disturbs the figures).
    """
    deadline = time.monotonic() + limit
    while True:
        b0 = busy_seconds()
        time.sleep(1.0)
        used = busy_seconds() - b0
        if used < threshold or time.monotonic() >= deadline:
            return used


def pg_pids(pg: str, app_prefix: str) -> list[int]:
    """Backends of this run (by ``application_name``) and the server's WAL/checkpoint/bgwriter processes."""
    with psycopg.connect(pg, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s OR backend_type = ANY(%s)",
            (app_prefix + "%", list(PG_HELPERS))).fetchall()
    return [r[0] for r in rows]


@dataclass
class CpuMeter:
    """CPU seconds per named group of processes between ``start()`` and ``stop()``, as cores used."""

    groups: dict[str, Any]  # name -> callable returning the pids of that group now
    before: dict[int, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    t0: float = 0.0
    wall: float = 0.0

    busy0: float = 0.0

    def start(self) -> None:
        """Record every process's CPU time now."""
        self.t0 = time.monotonic()
        self.busy0 = busy_seconds()
        self.before = {pid: cpu_seconds(pid) for f in self.groups.values() for pid in f()}

    def stop(self, extra: dict[str, float] | None = None) -> dict[str, float]:
        """Cores used per group since ``start`` (``extra``: CPU seconds measured otherwise, e.g. wrk),
        plus ``other``: whatever else ran on the machine meanwhile."""
        self.wall = time.monotonic() - self.t0
        busy = (busy_seconds() - self.busy0) / self.wall
        for name, f in self.groups.items():
            self.used[name] = sum(cpu_seconds(pid) - self.before.get(pid, 0.0) for pid in f()) / self.wall
        for name, secs in (extra or {}).items():
            self.used[name] = secs / self.wall
        self.used["other"] = max(0.0, busy - sum(self.used.values()))
        return self.used


# -- phases ---------------------------------------------------------------------------------------

@dataclass
class Phase:
    """One measurement: its rate and the cores each process group used meanwhile."""

    rate: float
    cores: dict[str, float]
    note: str = ""


class Bench:
    """Starts fakes once, then replicas per phase, each phase on a fresh schema dropped afterwards."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.fakes = Fakes(work / "fakes")
        self.rules = work / "bench-rules.yml"
        self.rules.write_text(yaml.safe_dump(BENCH_RULES, sort_keys=False))

    def replicas(self, n: int, schema: str, rules: list[str] | None) -> list[Runbookd]:
        """Start ``n`` replicas on ``schema`` (application_name ``rbbench-<schema>``) and return them."""
        url = f"{self.args.pg}{'&' if '?' in self.args.pg else '?'}schema={schema}&application_name=rbbench-{schema}"
        overrides: dict[str, Any] = {"log_level": "warning"}
        if rules:
            overrides["rule_files"] = rules
        out = [Runbookd(self.work / f"{schema}-{i}", self.fakes, overrides=overrides,
                        extra_env={"RUNBOOKD_STORAGE": url}) for i in range(n)]
        with ThreadPoolExecutor(n) as pool:  # replicas starting together also exercise the migration lock
            list(pool.map(lambda r: r.start(), out))
        return out

    def meter(self, reps: list[Runbookd], schema: str, wrk: bool = False) -> CpuMeter:
        """A CPU meter over the replicas, this run's PostgreSQL processes and the fakes."""
        groups: dict[str, Any] = {f"runbookd-{i + 1}": (lambda r=r: [r.proc.pid]) for i, r in enumerate(reps)}
        groups["postgresql"] = lambda: pg_pids(self.args.pg, f"rbbench-{schema}")
        groups["fakes"] = lambda: [self.fakes.proc.pid] if self.fakes.proc else []
        if not wrk:
            groups["client"] = lambda: [os.getpid()]
        return CpuMeter(groups)

    def drop(self, schema: str) -> None:
        with psycopg.connect(self.args.pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    # -- alerts/s -----------------------------------------------------------------------------
    def ingest(self, n: int) -> Phase:
        """alerts/s of ``n`` replicas under wrk, every alert new."""
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        reps = self.replicas(n, schema, None)
        try:
            lua = self.work / f"{schema}.lua"
            lua.write_text(
                LUA.replace("@@TEMPLATE@@", template(ALERTS_PER_REQUEST)).replace("@@GROUPS@@", str(GROUPS))
                .replace("@@STARTS@@", now_rfc3339()))
            conns = max(1, self.args.connections // n)
            wait_quiet(self.args.wait_quiet)
            meter = self.meter(reps, schema, wrk=True)
            meter.start()
            procs = []
            for i, r in enumerate(reps):
                script = lua.with_name(f"{schema}-{i}.lua")
                script.write_text(lua.read_text().replace("@@PREFIX@@", f"{uuid.uuid4().hex[:6]}{i}"))
                procs.append(subprocess.Popen(
                    ["wrk", "-t", str(min(2, conns)), "-c", str(conns), "-d", f"{self.args.duration:g}s",
                     "--timeout", "10s", "-s", str(script), r.url], stdout=subprocess.PIPE, text=True))
            ok, wrk_cpu = 0, 0.0
            for p in procs:
                _, status, usage = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)
                out = p.stdout.read() if p.stdout else ""
                wrk_cpu += usage.ru_utime + usage.ru_stime
                ok += parse_wrk(out)
            cores = meter.stop({"wrk": wrk_cpu})
            return Phase(ok * ALERTS_PER_REQUEST / self.args.duration, cores)
        finally:
            for r in reps:
                r.close()
            self.drop(schema)

    # -- notifications/s ----------------------------------------------------------------------
    def notify(self, n: int) -> Phase:
        """Pages/s of ``n`` replicas: ``--pages`` incidents, each paging the fake Slack once."""
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        reps = self.replicas(n, schema, [str(self.rules)])
        try:
            self.fakes.reset(["slack"])
            pages = self.args.pages
            wait_quiet(self.args.wait_quiet)
            meter = self.meter(reps, schema)
            meter.start()
            asyncio.run(post_unique(reps, pages, tag=uuid.uuid4().hex[:6]))

            def sent() -> bool:
                return sum(r.metric("runbookd_notifications_total") for r in reps) >= pages

            wait_until(sent, timeout=120, interval=0.25, message=f"{pages} pages")
            cores = meter.stop()
            posts = self.fakes.requests("slack", "POST", "/api/chat.postMessage")
            times = sorted(p["time"] for p in posts)
            rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
            note = "" if len(posts) == pages else f"{n} replica(s): {len(posts)} pages for {pages} incidents"
            return Phase(rate, cores, note)
        finally:
            for r in reps:
                r.close()
            self.drop(schema)


def parse_wrk(out: str) -> int:
    """Requests wrk got a 2xx for: total minus ``Non-2xx or 3xx responses`` and socket errors."""
    total, bad = 0, 0
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] == "requests" and words[0].isdigit():
            total = int(words[0])
        if line.strip().startswith("Non-2xx or 3xx responses:"):
            bad += int(line.split(":")[1])
    return total - bad


async def post_unique(reps: list[Runbookd], n_alerts: int, tag: str) -> None:
    """Post ``n_alerts`` alerts with distinct ``instance`` labels, 10 per request, round-robin."""
    body = template(ALERTS_PER_REQUEST)
    starts = now_rfc3339()
    sem = asyncio.Semaphore(8)

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        data = body.replace("@@ID@@", f"{tag}{i:07x}").replace("@@G@@", "0").replace("@@TS@@", starts)
        url = reps[i % len(reps)].webhook_url
        async with sem:
            for _ in range(20):
                async with session.post(url, data=data, headers={"Content-Type": "application/json"}) as r:
                    if r.status == 200:
                        return
                await asyncio.sleep(0.2)
            raise RuntimeError(f"request {i} never accepted")

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, i) for i in range(n_alerts // ALERTS_PER_REQUEST)))


def fmt_cores(cores: dict[str, float]) -> str:
    """``runbookd-1 0.95, postgresql 0.40, …`` (cores used)."""
    return ", ".join(f"{k} {v:.2f}" for k, v in cores.items())


def main() -> int:
    """Run the four phases and print the figures as a markdown section; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg", default=os.environ.get("RUNBOOKD_BENCH_PG", PG_DEFAULT), help="database URL")
    p.add_argument("--duration", type=float, default=6.0, help="seconds of wrk per alerts/s phase")
    p.add_argument("--connections", type=int, default=16, help="wrk connections in all")
    p.add_argument("--pages", type=int, default=1000, help="incidents (pages) per notifications/s phase")
    p.add_argument("--target", type=float, default=1.3, help="required ratio two replicas / one")
    p.add_argument("--repeat", type=int, default=2, help="runs of each phase (the best one counts)")
    p.add_argument("--wait-quiet", type=float, default=3.0,
                   help="before each phase, wait up to this many seconds for the machine to be idle")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rb-replicas-") as tmp:
        bench = Bench(args, Path(tmp))
        bench.fakes.start()
        try:
            # Alternate one and two replicas and keep each one's best run: on a shared machine the least
            # disturbed run is the one that shows what the code can do; every run is listed below.
            runs: dict[tuple[str, int], list[Phase]] = {}
            for what in ("ingest", "notify"):
                for _ in range(args.repeat):
                    for n in (1, 2):
                        runs.setdefault((what, n), []).append(getattr(bench, what)(n))
            results = {k: max(v, key=lambda ph: ph.rate) for k, v in runs.items()}
        finally:
            bench.fakes.close()
    elapsed = time.monotonic() - started
    ok = True
    print(f"\n## Replicas on PostgreSQL\n\n`bench/replicas.py` ({elapsed:.0f} s; {os.cpu_count()} CPUs; "
          f"{ALERTS_PER_REQUEST} alerts per request, {args.connections} wrk connections, {args.pages} pages)\n")
    print("| figure | 1 replica | 2 replicas | ratio | cores used, 1 replica | cores used, 2 replicas |")
    print("| --- | --- | --- | --- | --- | --- |")
    for what, label in (("ingest", "alerts/s"), ("notify", "notifications/s")):
        one, two = results[(what, 1)], results[(what, 2)]
        ratio = two.rate / one.rate if one.rate else 0.0
        ok = ok and ratio >= args.target
        print(f"| {label} | {one.rate:,.0f} | {two.rate:,.0f} | {ratio:.2f}× | {fmt_cores(one.cores)} | "
              f"{fmt_cores(two.cores)} |")
        for n in (1, 2):
            for ph in runs[(what, n)]:
                if ph.note:
                    print(f"\nnote: {ph.note}")
    print("\nEvery run (rate, cores used by other processes of the machine):\n")
    for (what, n), phases in sorted(runs.items()):
        listed = "; ".join(f"{ph.rate:,.0f}/s (other {ph.cores.get('other', 0.0):.2f})" for ph in phases)
        print(f"- {what}, {n} replica{'s' if n > 1 else ''}: {listed}")
    print(f"\ntarget: two replicas ≥ {args.target}× one replica on both figures: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
