"""Ingest benchmark: ``POST /webhook/alertmanager`` of a real ``runbookd serve`` against a no-op baseline.

For 1, 10 and 50 alerts per request it measures, on loopback:

1. the no-op handler (``bench/noop_server.py``: same aiohttp, reads the body, answers 200) under wrk;
2. runbookd at its maximum rate under wrk, every request carrying *new* alerts (unique fingerprints), so
   each one is a durable insert, committed before the 200 (SQLite WAL, group commit);
3. runbookd under an open-loop load (evenly spaced sends) at half the rate of 2, latency measured from
   each request's *scheduled* send time, so a stall is not hidden (no coordinated omission). Debian's wrk
   has no ``-R`` (that is wrk2), so this generator is Python: asyncio with a bare HTTP/1.1 protocol over
   keep-alive connections (see ``_HttpConn`` for why not aiohttp's client);
4. runbookd under wrk with the *same* body re-sent over and over (what Alertmanager does every
   ``group_interval``): no new rows, the upsert changes nothing.

Each runbookd phase gets a fresh process and database in a temporary directory (sqlite storage, the
repo's ``rules/*.yml``, ``dry_run: true``, no integration configured). After a phase the process is killed
with SIGKILL and the SQLite file is read: every alert acknowledged with 200 must be a row, and every row
must be an acknowledged alert — or one of a request that wrk cut off when its time was up, sent but
never answered (the harness knows exactly which request that is on each connection).

wrk runs one thread per connection so that the Lua script can tell which request each answer belongs to.

Usage: ``.venv/bin/python bench/ingest.py [--duration 10] [--connections 16] [--profile DIR]`` (or
``make bench``; ``--help`` lists every option). Exit status 0 when every target is met and the
durability check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from payloads import GROUPS, Filler, fingerprints, now_rfc3339, template  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SIZES = (1, 10, 50)
#: Durable alerts/s of runbookd as a multiple of the no-op handler's requests/s, per alerts/request.
TARGET_RATIO = {1: 0.25, 10: 1.0, 50: 1.5}
TARGET_HALF_P99_MS = 15.0
#: Above this many CPUs used by other processes during a phase, the run is flagged as disturbed.
NOISY_CORES = 0.3
#: py-spy samples per second (``--profile``).
PROFILE_RATE = 200
WEBHOOK = "/webhook/alertmanager"
JSON_HEADERS = {"Content-Type": "application/json"}

# wrk script. One connection per thread: answers come back in the order requests were sent, so the
# n-th answer is the n-th request and the harness can name every acknowledged alert exactly.
LUA = r"""
issued, ok, bad, failedstr = 0, 0, 0, ""
local template, tag, mode, fixed_ts, groups, nthreads_all, fixed
local threads, nthreads = {}, 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   threads[#threads + 1] = thread
end

local function fill(id, g, ts)
   local vals = {ID = id, G = tostring(g), TS = ts}
   return (template:gsub("@@(%u+)@@", vals))
end

function init(args)
   local f = assert(io.open(args[1], "rb"))
   template = f:read("*a")
   f:close()
   tag, mode, fixed_ts, groups, nthreads_all = args[2], args[3], args[4], tonumber(args[5]), tonumber(args[6])
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   if mode == "resend" then
      fixed = wrk.format(nil, nil, nil, fill(tag .. "0000000000", 0, fixed_ts))
   end
end

function request()
   -- A new id only once the previous request was answered: the call wrk makes on thread 0 to verify the
   -- script, and a request lost to a reconnect, leave their id to the next request (a retry, as
   -- Alertmanager would). So the n-th answer on this connection is always the answer to id n.
   if issued == ok + bad then issued = issued + 1 end
   if fixed then return fixed end
   local id = string.format("%s%02x%08x", tag, tid, issued)
   -- spread the threads' requests evenly over the groups (alert names, hence incidents)
   local g = (issued * nthreads_all + tid) % groups
   return wrk.format(nil, nil, nil, fill(id, g, os.date("!%Y-%m-%dT%H:%M:%S.000Z")))
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   else
      bad = bad + 1
      if bad <= 1000 then
         failedstr = failedstr .. (bad > 1 and "," or "") .. tostring(ok + bad)
      end
   end
end

function done(summary, latency, requests)
   local parts = {}
   for _, t in ipairs(threads) do
      parts[#parts + 1] = string.format('{"tid":%d,"issued":%d,"ok":%d,"bad":%d,"failed":[%s]}',
         t:get("tid"), t:get("issued"), t:get("ok"), t:get("bad"), t:get("failedstr"))
   end
   local e = summary.errors
   io.write(string.format('BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"lat_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"threads":[%s]}\n',
      summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      table.concat(parts, ",")))
end
"""


# -- results ----------------------------------------------------------------------------------------
@dataclass
class Load:
    """One measured load: rates, latency (ms) and the alerts each answer acknowledged."""

    label: str
    seconds: float
    requests: int  # answered requests (any status)
    ok_requests: int
    alerts_per_request: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set, repr=False)  # fingerprints acknowledged with 200
    cut_off: set[str] = field(default_factory=set, repr=False)  # sent, never answered
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Answered requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def alerts_per_s(self) -> float:
        """Alerts acknowledged with 200 per second."""
        return self.ok_requests * self.alerts_per_request / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-able figures."""
        return {"label": self.label, "seconds": round(self.seconds, 3), "requests": self.requests,
                "ok_requests": self.ok_requests, "req_per_s": round(self.rps, 1),
                "alerts_per_s": round(self.alerts_per_s, 1), "p50_ms": round(self.p50_ms, 2),
                "p99_ms": round(self.p99_ms, 2), "max_ms": round(self.max_ms, 2), "errors": self.errors,
                **self.extra}


@dataclass
class Durability:
    """What the SQLite file holds after SIGKILL, against what was acknowledged."""

    acked: int
    rows: int
    cut_off_committed: int
    missing: int  # acknowledged but not in the file: a lost alert
    unexplained: int  # in the file but neither acknowledged nor cut off
    pending: int  # rows the dispatcher had not processed into incidents yet
    incidents: int

    @property
    def ok(self) -> bool:
        """Whether rows == acked + committed cut-off requests, with nothing missing or unexplained."""
        return self.missing == 0 and self.unexplained == 0 and self.rows == self.acked + self.cut_off_committed

    def line(self) -> str:
        """One line for the report."""
        cut = ""
        if self.cut_off_committed:
            cut = f" + {self.cut_off_committed} of requests cut off at the end (sent, no answer)"
        verdict = "OK" if self.ok else f"FAIL (missing {self.missing}, unexplained {self.unexplained})"
        return (f"durability after kill -9: {self.acked} alerts acknowledged with 200, {self.rows} alert rows "
                f"in SQLite{cut} -> {verdict}; dispatcher backlog {self.pending} pending rows, "
                f"{self.incidents} incidents")


# -- processes --------------------------------------------------------------------------------------
def free_port() -> int:
    """A loopback TCP port that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def boost(pid: int, n: int) -> None:
    """Run ``pid`` at nice ``-n``, and its autogroup too: with ``sched_autogroup`` the scheduler shares the
    CPUs between sessions first, so the process's own niceness alone barely counts against other load."""
    os.setpriority(os.PRIO_PROCESS, pid, -n)
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(str(-n))


class Proc:
    """A child process we started (its own session); stopped by its pid only."""

    #: Niceness boost (``--boost``) applied to every child.
    boost = 0

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        if Proc.boost:
            with contextlib.suppress(OSError):
                boost(self.p.pid, Proc.boost)

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.p.pid

    def wait_ready(self, url: str, timeout: float = 30.0) -> None:
        """Poll ``url`` until it answers 200; raise with the log's tail if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.p.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    def tail(self, n: int = 20) -> str:
        """The last ``n`` lines of the process's output."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Send ``sig`` to this process (SIGKILL after ``timeout``) and reap it."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


class CpuMeter:
    """CPU the rest of the machine used while a load ran (other test suites, neighbours): a noise gauge.

    Busy time of all CPUs (``/proc/stat``: user, system, steal) minus what this benchmark's own processes
    used: this process, its reaped children (wrk) and the servers still running.
    """

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.t0 = time.monotonic()
        self.busy0, self.own0 = self._busy(), self._own()

    @staticmethod
    def _busy() -> float:
        with contextlib.suppress(OSError, ValueError):
            f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
            # user, nice, system, steal; not irq/softirq, where the kernel charges our own loopback traffic
            return (f[0] + f[1] + f[2] + f[7]) / CpuMeter.HZ
        return 0.0

    def _own(self) -> float:
        t = os.times()
        total = t.user + t.system + t.children_user + t.children_system
        for pid in self.pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{pid}/stat").read_text()
                f = stat[stat.rindex(")") + 2:].split()
                total += (int(f[11]) + int(f[12])) / self.HZ
        return total

    def other_cores(self) -> float:
        """Average number of CPUs busy with other processes since this meter started."""
        dt = time.monotonic() - self.t0
        other = (self._busy() - self.busy0) - (self._own() - self.own0)
        return max(0.0, other / dt) if dt > 0 else 0.0


class Harness:
    """Temp dir, children and the runbookd configuration of one benchmark run."""

    def __init__(self, work: Path, connections: int, groups: int, tree: Path = REPO) -> None:
        self.work = work
        self.tree = tree
        self.connections = connections
        self.groups = groups
        self.children: list[Proc] = []
        self.env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        self.env["PYTHONPATH"] = str(tree)
        self.lua = work / "bench.lua"
        self.lua.write_text(LUA)
        self.routing_keys = _routing_key_names(tree)
        self.seq = 0

    def start(self, name: str, argv: list[str], ready_path: str, port: int) -> Proc:
        """Start a child and wait until ``ready_path`` answers."""
        p = Proc(name, argv, env=self.env, log=self.work / f"{name}.log", cwd=self.tree)
        self.children.append(p)
        p.wait_ready(f"http://127.0.0.1:{port}{ready_path}")
        return p

    def start_noop(self) -> tuple[Proc, str]:
        """Start the no-op handler; returns it and its base URL."""
        port = free_port()
        argv = [sys.executable, str(REPO / "bench" / "noop_server.py"), "--listen", f"127.0.0.1:{port}"]
        return self.start("noop", argv, "/-/ready", port), f"http://127.0.0.1:{port}"

    def start_runbookd(self, label: str) -> tuple[Proc, str, Path]:
        """Start ``runbookd serve`` on a fresh database; returns it, its base URL and the SQLite path."""
        self.seq += 1
        d = self.work / f"rb{self.seq:02d}-{label}"
        d.mkdir()
        port = free_port()
        db = d / "runbookd.db"
        config = {
            "listen": f"127.0.0.1:{port}",
            "storage": f"sqlite:///{db}",  # absolute path: sqlite:////tmp/...
            "rule_files": [str(self.tree / "rules" / "*.yml")],
            "dry_run": True,
            "external_url": f"http://127.0.0.1:{port}",
            # The shipped rules name these routing keys; empty values leave PagerDuty off.
            "pagerduty": {"routing_keys": dict.fromkeys(self.routing_keys, "")},
            "log_format": "json",
            "log_level": "info",
        }
        cfg = d / "runbookd.yml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [sys.executable, "-m", "receiver", "serve", "--config", str(cfg)]
        p = self.start(f"runbookd-{self.seq:02d}-{label}", argv, "/-/ready", port)
        return p, f"http://127.0.0.1:{port}", db

    def live_pids(self) -> list[int]:
        """Pids of the children still running, and of their own children (runbookd's ingest process)."""
        pids = [p.pid for p in self.children if p.p.poll() is None]
        for pid in list(pids):
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                with contextlib.suppress(OSError, ValueError):
                    pids += [int(x) for x in children.read_text().split()]
        return pids

    def stop_all(self) -> None:
        """Stop every child still running (each by its own pid)."""
        for p in self.children:
            p.stop(signal.SIGKILL if p.name.startswith("runbookd") else signal.SIGTERM, timeout=5)

    # -- load generators --------------------------------------------------------------------------
    def wrk(self, url: str, tmpl: Path, n_alerts: int, *, tag: str, mode: str, seconds: float,
            label: str, fixed_ts: str = "") -> Load:
        """Run wrk for ``seconds`` against ``url``; ``mode`` is ``new`` (fresh alerts) or ``resend``."""
        c = self.connections
        argv = ["wrk", "-t", str(c), "-c", str(c), "-d", f"{seconds:g}s", "--timeout", "5s", "-s", str(self.lua),
                url + WEBHOOK, "--", str(tmpl), tag, mode, fixed_ts or now_rfc3339(), str(self.groups), str(c)]
        meter = CpuMeter(self.live_pids())
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
        other = meter.other_cores()
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if out.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        r = json.loads(line[len("BENCH_JSON "):])
        load = Load(label=label, seconds=r["duration_us"] / 1e6, requests=r["requests"], ok_requests=0,
                    alerts_per_request=n_alerts, p50_ms=r["lat_us"]["p50"] / 1000, p99_ms=r["lat_us"]["p99"] / 1000,
                    max_ms=r["lat_us"]["max"] / 1000, errors={k: v for k, v in r["errors"].items() if v},
                    extra={"other_cpu_cores": round(other, 2)})
        for t in r["threads"]:
            load.ok_requests += t["ok"]
            answered = t["ok"] + t["bad"]
            failed = set(t["failed"])
            # The Lua script names at most 1000 failed requests per connection; past that, which answers
            # were 200 is unknown, and the connection's alerts are neither required nor unexplained.
            unknown = t["bad"] > len(failed)
            if unknown:
                load.extra["warning"] = "over 1000 non-200 answers on a connection: durability check is partial"
            for k in range(1, t["issued"] + 1):
                rid = f"{tag}0000000000" if mode == "resend" else f"{tag}{t['tid']:02x}{k:08x}"
                fps = fingerprints(rid, n_alerts)
                if k > answered or unknown:
                    load.cut_off.update(fps)
                elif k not in failed:
                    load.acked.update(fps)
        load.cut_off -= load.acked
        return load

    def open_loop(self, url: str, tmpl: str, n_alerts: int, *, tag: str, rate: float, seconds: float,
                  label: str) -> Load:
        """Open-loop load at ``rate`` requests/s for ``seconds``; latency from each scheduled send time."""
        meter = CpuMeter(self.live_pids())
        load = asyncio.run(_open_loop(url + WEBHOOK, Filler(tmpl), n_alerts, tag=tag, rate=rate, seconds=seconds,
                                      label=label, groups=self.groups))
        load.extra["other_cpu_cores"] = round(meter.other_cores(), 2)
        return load


class _HttpConn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the open-loop generator, one request at a time.

    A bare protocol instead of ``aiohttp.ClientSession``: the client shares the two CPUs with the
    server, and aiohttp's client costs enough per request (~0.5 ms of CPU) that at 1,000 requests/s its
    own queueing dominated the p99 it was measuring (88 ms against the no-op handler).
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.need: int | None = None
        self.status = 0
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line, *headers = bytes(self.buf[:end]).split(b"\r\n")
            self.status = int(status_line.split()[1])
            length = next(int(v) for k, _, v in (h.partition(b":") for h in headers)
                          if k.strip().lower() == b"content-length")
            self.need = end + 4 + length
        if len(self.buf) >= self.need:
            del self.buf[:self.need]
            self.need = None
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed before the answer"))


async def _open_loop(url: str, filler: Filler, n_alerts: int, *, tag: str, rate: float, seconds: float,
                     label: str, groups: int) -> Load:
    host, _, port = url.split("/")[2].rpartition(":")
    path = "/" + url.split("/", 3)[3]
    n = max(1, int(rate * seconds))
    ts = now_rfc3339()
    ids = [f"{tag}{i:010x}" for i in range(n)]
    requests = []
    for i, rid in enumerate(ids):
        body = filler.fill(rid, i % groups, ts)
        requests.append(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    latency = [0.0] * n
    lag = [0.0] * n
    status = [0] * n
    loop = asyncio.get_running_loop()
    idle: list[_HttpConn] = []
    opened: list[_HttpConn] = []

    async def one(i: int, scheduled: float) -> None:
        lag[i] = loop.time() - scheduled
        try:
            conn = idle.pop() if idle else None
            if conn is None or conn.transport is None:
                _, conn = await loop.create_connection(_HttpConn, host, int(port))
                opened.append(conn)
            status[i] = await asyncio.wait_for(conn.send(requests[i]), timeout=30)
            idle.append(conn)
        except (OSError, TimeoutError):
            status[i] = -1
        latency[i] = loop.time() - scheduled

    # Open the connections a burst needs before the clock starts, as a long-running client would have.
    for _ in range(8):
        _, c = await loop.create_connection(_HttpConn, host, int(port))
        idle.append(c)
        opened.append(c)
    gc.collect()
    gc.disable()  # a collection of the pre-built bodies would be a pause of the generator, not the server
    try:
        tasks = []
        start = loop.time() + 0.02
        for i in range(n):
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.create_task(one(i, scheduled)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
    finally:
        gc.enable()
        for c in opened:
            if c.transport is not None:
                c.transport.close()
    lat = sorted(latency)
    codes = Counter(status)
    load = Load(label=label, seconds=elapsed, requests=sum(v for k, v in codes.items() if k > 0),
                ok_requests=codes.get(200, 0), alerts_per_request=n_alerts, p50_ms=_pct(lat, 50) * 1000,
                p99_ms=_pct(lat, 99) * 1000, max_ms=lat[-1] * 1000,
                errors={str(k): v for k, v in codes.items() if k != 200})
    for i, rid in enumerate(ids):
        (load.acked if status[i] == 200 else load.cut_off).update(fingerprints(rid, n_alerts))
    load.extra.update(offered_per_s=round(rate, 1), generator_lag_p99_ms=round(_pct(sorted(lag), 99) * 1000, 2),
                      connections=len(opened))
    return load


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def durability(db: Path, loads: list[Load]) -> Durability:
    """Compare the alert rows of ``db`` with what ``loads`` acknowledged (call after the server is dead)."""
    acked: set[str] = set().union(*(x.acked for x in loads))
    cut: set[str] = set().union(*(x.cut_off for x in loads)) - acked
    conn = sqlite3.connect(db)
    try:
        present = {r[0] for r in conn.execute("SELECT fingerprint FROM alerts")}
        rows = conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        pending = conn.execute("SELECT COUNT(*) FROM alerts WHERE pending = 1").fetchone()[0]
        incidents = conn.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
    finally:
        conn.close()
    return Durability(acked=len(acked), rows=rows, cut_off_committed=len(present & cut),
                      missing=len(acked - present), unexplained=len(present - acked - cut), pending=pending,
                      incidents=incidents)


def _routing_key_names(tree: Path) -> list[str]:
    try:
        shipped = yaml.safe_load((tree / "runbookd.yml").read_text())
        return list(shipped["pagerduty"]["routing_keys"])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return ["default", "secondary"]


# -- profiling (optional) ---------------------------------------------------------------------------
def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Attach py-spy to ``pid`` for ``seconds`` (collapsed stacks in ``out``), if py-spy is installed."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("  (py-spy not installed: .venv/bin/pip install py-spy)")
        return None
    argv = [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(PROFILE_RATE), "--threads",
            "--nonblocking", "--format", "raw", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(path: Path, seconds: float, top: int = 8) -> list[str]:
    """Per thread of runbookd: how busy it was (non-idle samples), then the ``receiver/`` functions with
    the largest inclusive share of its busy samples (py-spy ``--format raw``: ``frame;frame;… count``)."""
    per_thread: Counter[str] = Counter()
    inclusive: dict[str, Counter[str]] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            thread = frames[0].split(": ", 1)[-1]
            per_thread[thread] += int(count)
            funcs = {f.split(" (", 1)[0] for f in frames[1:]
                     if "receiver/" in f and not any(x in f for x in ("receiver/cli.py", "receiver/__main__.py"))}
            for fn in funcs:
                inclusive.setdefault(thread, Counter())[fn] += int(count)
    out = [f"profile {path}:"]
    for thread, n in per_thread.most_common():
        out.append(f"  {thread}: busy {100 * n / (PROFILE_RATE * seconds):.0f}% of the time; of that:")
        for fn, k in inclusive.get(thread, Counter()).most_common(top):
            out.append(f"    {100 * k / n:5.1f}%  {fn}")
    return out


# -- the run ----------------------------------------------------------------------------------------
def wait_quiet(limit: float) -> None:
    """Wait (at most ``limit`` seconds) for a 2-second window in which other processes use < NOISY_CORES CPUs."""
    deadline = time.monotonic() + limit
    while True:
        meter = CpuMeter([])
        time.sleep(2)
        other = meter.other_cores()
        if other < NOISY_CORES or time.monotonic() >= deadline:
            print(f"other processes use {other:.2f} CPUs; starting")
            return
        print(f"other processes use {other:.2f} CPUs; waiting for a quieter machine", flush=True)


def machine(tree: Path) -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    git = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--", "receiver"], capture_output=True,
                           text=True, check=False).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "python": platform.python_version(), "aiohttp": aiohttp.__version__, "sqlite": sqlite3.sqlite_version,
            "wrk": " ".join(wrk_version.split()[:2]),
            "git": git + (" + uncommitted receiver/ changes" if dirty else ""),
            "loadavg_before": os.getloadavg()}


def fmt_row(name: str, x: Load) -> str:
    """One table row."""
    return (f"  {name:<22}{x.rps:>10.1f}{x.alerts_per_s:>12.1f}{x.p50_ms:>9.2f}{x.p99_ms:>9.2f}{x.max_ms:>9.1f}"
            f"{x.extra.get('other_cpu_cores', 0.0):>8.2f}")


def run(args: argparse.Namespace) -> int:
    """The whole benchmark; returns the exit status."""
    if shutil.which("wrk") is None:
        print("wrk not found (apt-get install wrk)", file=sys.stderr)
        return 2
    info = machine(args.tree)
    print(f"runbookd ingest benchmark — {args.tree} at {info['git']}")
    print(f"{info['nproc']} CPU ({info['cpu']}), kernel {info['kernel']}, Python {info['python']}, "
          f"aiohttp {info['aiohttp']}, SQLite {info['sqlite']}, {info['wrk']}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in info['loadavg_before'])}; wrk: {args.connections} "
          f"connections (one thread each); {args.duration:g} s per phase ({args.resend_duration:g} s re-sent) after "
          f"{args.warmup:g} s warm-up; half load: open-loop Python generator (this wrk has no -R); new alerts "
          f"cycle through {args.groups} alert names")
    print(f"'other' = CPUs busy with processes outside this benchmark during the phase (noise; "
          f"{info['nproc']} CPUs in all)")
    if args.boost:
        try:
            boost(os.getpid(), args.boost)
            Proc.boost = args.boost
            print(f"running at nice -{args.boost} (process and autogroup): other load gets less of the CPUs")
        except OSError as e:
            print(f"cannot raise the priority ({e.strerror}); running at normal priority")
    if args.wait_quiet > 0:
        wait_quiet(args.wait_quiet)
    t_start = time.monotonic()
    results: dict[str, Any] = {"machine": info, "args": vars(args), "sizes": {}}
    verdicts: list[tuple[str, bool]] = []
    work = Path(tempfile.mkdtemp(prefix="runbookd-bench-"))
    h = Harness(work, args.connections, args.groups, args.tree)
    try:
        noop, noop_url = h.start_noop()
        for n in args.sizes:
            tmpl = template(n)
            tmpl_path = work / f"body-{n}.json"
            tmpl_path.write_text(tmpl)
            res: dict[str, Any] = {}
            print(f"\n== {n} alert(s) per request ({len(tmpl)} bytes) ==")

            # 1. baseline
            h.wrk(noop_url, tmpl_path, n, tag="w", mode="new", seconds=args.warmup, label="warm-up")
            base = h.wrk(noop_url, tmpl_path, n, tag=f"n{n % 256:02x}", mode="new", seconds=args.duration,
                         label="no-op")

            # 2. runbookd, new alerts, maximum rate
            rb, url, db = h.start_runbookd(f"max-{n}")
            warm = h.wrk(url, tmpl_path, n, tag="w", mode="new", seconds=args.warmup, label="warm-up")
            prof = None
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                prof = start_profiler(rb.pid, args.duration, args.profile / f"runbookd-{n}.txt")
            new = h.wrk(url, tmpl_path, n, tag="m", mode="new", seconds=args.duration, label="runbookd new")
            if prof is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    prof.wait(timeout=args.duration + 20)
                print("\n".join("  " + x for x in summarize_profile(args.profile / f"runbookd-{n}.txt",
                                                                   int(args.duration))))
            rb.stop(signal.SIGKILL)
            dur_max = durability(db, [warm, new])

            # 3. runbookd at half of that rate, open loop
            rb, url, db = h.start_runbookd(f"half-{n}")
            rate = max(1.0, new.rps / 2)
            hwarm = h.open_loop(url, tmpl, n, tag="w", rate=rate, seconds=args.warmup, label="warm-up")
            half = h.open_loop(url, tmpl, n, tag="h", rate=rate, seconds=args.duration, label="runbookd half load")
            rb.stop(signal.SIGKILL)
            dur_half = durability(db, [hwarm, half])

            # 4. runbookd, the same body re-sent
            rb, url, db = h.start_runbookd(f"resend-{n}")
            ts = now_rfc3339()
            rwarm = h.wrk(url, tmpl_path, n, tag="r", mode="resend", seconds=args.warmup, label="warm-up",
                          fixed_ts=ts)
            resend = h.wrk(url, tmpl_path, n, tag="r", mode="resend", seconds=args.resend_duration,
                           label="runbookd re-sent", fixed_ts=ts)
            rb.stop(signal.SIGKILL)
            dur_resend = durability(db, [rwarm, resend])

            ratio = new.alerts_per_s / base.rps if base.rps else 0.0
            ratio_ok = ratio >= TARGET_RATIO.get(n, 0.0)
            half_ok = half.p99_ms <= TARGET_HALF_P99_MS
            print(f"  {'':<22}{'req/s':>10}{'alerts/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'other':>8}")
            print(fmt_row("no-op handler", base))
            print(fmt_row("runbookd, new alerts", new))
            print(fmt_row("runbookd, re-sent", resend))
            print(fmt_row("runbookd, half load", half)
                  + f"   (offered {rate:.1f} req/s, {half.requests} requests, generator lag p99 "
                  f"{half.extra['generator_lag_p99_ms']} ms)")
            for x in (base, new, resend, half):
                if x.errors:
                    print(f"  ! {x.label}: errors/non-200 {x.errors}")
            if n in TARGET_RATIO:
                print(f"  ratio runbookd alerts/s / no-op req/s = {ratio:.2f}  (target >= {TARGET_RATIO[n]:g})  "
                      f"{'PASS' if ratio_ok else 'FAIL'}")
                verdicts.append((f"{n} alert(s)/request: ratio {ratio:.2f} >= {TARGET_RATIO[n]:g}", ratio_ok))
            print(f"  p99 at half load = {half.p99_ms:.2f} ms  (target <= {TARGET_HALF_P99_MS:g} ms)  "
                  f"{'PASS' if half_ok else 'FAIL'}")
            verdicts.append((f"{n} alert(s)/request: half-load p99 {half.p99_ms:.2f} ms <= {TARGET_HALF_P99_MS:g}",
                             half_ok))
            for name, d in (("max", dur_max), ("half", dur_half), ("re-sent", dur_resend)):
                print(f"  [{name}] {d.line()}")
                verdicts.append((f"{n} alert(s)/request: durability ({name})", d.ok))
            res.update(noop=base.summary(), new=new.summary(), resend=resend.summary(), half=half.summary(),
                       ratio=round(ratio, 3), durability={"max": vars(dur_max), "half": vars(dur_half),
                                                          "resend": vars(dur_resend)})
            results["sizes"][str(n)] = res
        noop.stop()
    finally:
        h.stop_all()
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - t_start, 1)
    results["loadavg_after"] = os.getloadavg()
    print("\n== summary ==")
    print(f"  {'alerts/req':>10}{'no-op req/s':>13}{'rb req/s':>10}{'rb alerts/s':>13}{'ratio':>7}{'target':>8}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'half p99':>10}{'re-sent req/s':>15}")
    for size, r in results["sizes"].items():
        print(f"  {size:>10}{r['noop']['req_per_s']:>13.0f}{r['new']['req_per_s']:>10.0f}"
              f"{r['new']['alerts_per_s']:>13.0f}{r['ratio']:>7.2f}{TARGET_RATIO.get(int(size), 0):>8.2f}"
              f"{r['new']['p50_ms']:>8.1f}{r['new']['p99_ms']:>8.1f}{r['half']['p99_ms']:>10.1f}"
              f"{r['resend']['req_per_s']:>15.0f}")
    print(f"\n== verdict ({results['seconds']:.0f} s) ==")
    for what, ok in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}")
    noise = max((x.get("other_cpu_cores", 0.0) for r in results["sizes"].values()
                 for x in (r["noop"], r["new"], r["resend"], r["half"])), default=0.0)
    results["max_other_cpu_cores"] = noise
    if noise > NOISY_CORES and not args.boost:
        print(f"  WARNING: other processes kept up to {noise:.2f} of the {os.cpu_count()} CPUs busy during a phase "
              "(column 'other'): the figures are disturbed; rerun on a quiet machine (--wait-quiet, --boost)")
    elif noise > NOISY_CORES:
        print(f"  note: other processes used up to {noise:.2f} CPUs during a phase; at --boost {args.boost} they "
              "mostly get what the benchmark leaves idle, but the figures are noisier than on a quiet machine")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(ok for _, ok in verdicts) else 1


def main() -> int:
    """Parse arguments and run; SIGALRM bounds the whole run."""
    p = argparse.ArgumentParser(description="runbookd ingest benchmark (see the module docstring).")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=list(SIZES),
                   help="alerts per request, comma-separated (default 1,10,50)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured phase (default 10)")
    p.add_argument("--resend-duration", type=float, default=5.0, help="seconds of the re-sent phase (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each phase (default 1)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections, one thread each (default 16)")
    p.add_argument("--groups", type=int, default=GROUPS,
                   help=f"alert names (so catch-all incidents) the new alerts cycle through (default {GROUPS})")
    p.add_argument("--tree", type=lambda x: Path(x).resolve(), default=REPO,
                   help="checkout whose receiver/ and rules/ to serve (default: this one), e.g. a worktree to compare")
    p.add_argument("--profile", type=Path, default=None,
                   help="directory for py-spy collapsed stacks of runbookd during each max-rate phase")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    p.add_argument("--time-limit", type=float, default=300.0, help="abort the run after this many seconds")
    p.add_argument("--boost", type=int, default=0, metavar="N",
                   help="run the benchmark and its servers at nice -N (root only) to shield it from other load")
    p.add_argument("--wait-quiet", type=float, default=0.0,
                   help=f"first wait up to this many seconds for other processes to use < {NOISY_CORES} CPU")
    args = p.parse_args()
    if not 1 <= args.connections <= 255:
        p.error("--connections must be within 1..255 (the connection number is 2 hex digits of the id)")

    def on_alarm(_sig: int, _frame: Any) -> None:
        raise TimeoutError(f"benchmark exceeded --time-limit {args.time_limit:g}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.time_limit))
    try:
        return run(args)
    except TimeoutError as e:
        print(f"aborted: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
