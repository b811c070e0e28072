"""The dispatcher: applies committed alerts to incidents and runs due work rows.

Everything after ingest's 200 happens here, from rows claimed in the store: pending alerts are
processed into incidents (``Processor``), then due rows are claimed under a lease and executed
concurrently (playbook steps by ``PlaybookRunner``, notifications by ``Sender``). With
``bulkheads``, each family of rows (steps, each channel kind, the rest: ``receiver.incidents.bulkheads``)
claims and runs only up to its own limit, so one slow vendor never holds another's rows. Idle, it sleeps
until woken (ingest, API) or until the poll interval passes; time is read from the injected clock,
so tests drive it with ``run_once()`` and a fake clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, get_args

import structlog

from receiver.errors import StoreError
from receiver.escalation.targets import Targets
from receiver.incidents.batches import AlertBatches
from receiver.incidents.bulkheads import Bulkhead
from receiver.incidents.processor import BATCH, Processor, ProcessResult
from receiver.jobkinds import spec
from receiver.maintenance.windows import window_end
from receiver.metrics import Metrics
from receiver.model import Job, JobKind
from receiver.playbooks.gates import paused
from receiver.store.base import JobFilter, Store

log = structlog.get_logger("runbookd.dispatcher")
#: Seconds (by the injected clock) between two looks for incidents a truncated body held open too long.
HELD_SWEEP_EVERY = 5.0


class Dispatcher:
    """Claims and executes work from the store; one per process."""

    def __init__(
        self, store: Store, processor: Callable[[], Processor], runner: Any, sender: Any, metrics: Metrics,
        clock: Any, *, lease: float = 30.0, poll_interval: float = 1.0, concurrency: int = 16,
        claimer: str | None = None, maintenance: Callable[[], Awaitable[None]] | None = None,
        bulkheads: Callable[[], list[Bulkhead]] | None = None,
        targets: Any = None, silences: Any = None,
    ) -> None:
        #: Runs ``silence`` rows (receiver.maintenance.silences), or ``None``.
        self.silences = silences
        self.store = store
        #: Runs ``target`` rows: response-target breaches and response-time metrics.
        self.targets = targets or Targets(store, metrics, clock, hold=window_end)
        self.maintenance = maintenance
        self.processor = processor
        self.runner = runner
        self.sender = sender
        self.metrics = metrics
        self.clock = clock
        self.lease = lease
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.claimer = claimer or f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        #: True while ``run_forever`` waits for a wake-up or its poll interval (nothing of its own in flight).
        self.waiting = False
        self._inflight: dict[int, asyncio.Task[None]] = {}
        #: The bulkheads in force (read again on each claim: a reload can change the receivers).
        self.bulkheads = bulkheads
        #: Ids of the rows running in each bulkhead.
        self._running: dict[str, set[int]] = {}
        #: Rows claimed by each bulkhead since start (for tests and benchmarks).
        self.claimed: dict[str, int] = {}
        self._gauges_due = 0.0
        self._held_due = float("-inf")
        self._batches = AlertBatches(store, processor, metrics, clock)

    def wake(self) -> None:
        """Ask the loop to look for work now (after ingest committed new alert states)."""
        self._wake.set()

    async def _process_batch(self) -> ProcessResult:
        """One batch of pending alerts (``AlertBatches.next``: races redone, bad alerts quarantined)."""
        return await self._batches.next()

    def apply_at_ingest(self, tx: Any, alerts: list[Any], now: float) -> ProcessResult:
        """Apply alerts inside ingest's transaction (``Store.process_on_ingest``); runs on the store's thread."""
        return self.processor().apply(tx, alerts, now)

    def after_ingest(self, res: ProcessResult | None) -> None:
        """After ingest's commit: count and log what ``apply_at_ingest`` did, and wake the loop when
        it enqueued work or left the alerts pending (``res`` is ``None``)."""
        if res is None or res.enqueued or res.changes:
            self.wake()
        if res is not None:
            self._account(res)

    def _account(self, res: ProcessResult) -> None:
        for rule, n in res.rule_hits.items():
            self.metrics.rule_matches.labels(rule=rule).inc(n)
        for sev, n in res.opened.items():
            self.metrics.incidents_opened.labels(severity=sev).inc(n)
        for event, iid, rule, sev, title in res.changes:
            log.info(event, incident=iid, rule=rule, severity=sev, title=title)

    async def process_alerts(self) -> int:
        """Apply every pending alert state change to incidents. Returns how many were processed.

        Raises ``StoreConflict`` after ``CONFLICT_RETRIES`` lost races in a row, ``StoreUnavailable``.
        """
        total = 0
        while True:
            res = await self._process_batch()
            self._account(res)
            total += res.processed
            if res.processed < BATCH:
                break
            await asyncio.sleep(0)  # let ingest's group commit in between batches
        now = self.clock.now()
        if now >= self._held_due:
            self._held_due = now + HELD_SWEEP_EVERY
            try:
                self._account(await self.store.transaction(lambda tx: self.processor().release_held(tx, now)))
            except StoreError:
                raise
            except Exception:  # a bug here must not stop alert processing; the next sweep tries again
                log.exception("releasing incidents held by truncated bodies failed")
        if total:
            await self.refresh_gauges()
        return total

    async def refresh_gauges(self) -> None:
        """Update the gauges read from the store: open incidents, queue depth, automation pause."""
        counts, depth, pause, oldest = await self.store.read(
            lambda tx: (tx.open_counts(), tx.queue_depth(), paused(tx), tx.oldest_pending_at()))
        self.metrics.oldest_pending_age.set(0.0 if oldest is None else max(0.0, self.clock.now() - oldest))
        for sev in ("P0", "P1", "P2", "P3"):
            self.metrics.incidents_open.labels(severity=sev).set(counts.get(sev, 0))
        for kind in get_args(JobKind):
            self.metrics.queue_depth.labels(kind=kind).set(depth.get(kind, 0))
        self.metrics.automation_paused.set(1 if pause is not None else 0)

    async def _claim(self, limit: int) -> list[tuple[str, Job]]:
        """Claim due rows: up to ``limit`` of any kind, or, with bulkheads, each family's free slots.

        All bulkheads claim in one transaction; a full one claims nothing and stops no other.
        """
        now = self.clock.now()
        wanted: list[tuple[str, JobFilter | None, int]]
        if self.bulkheads is None:
            wanted = [("all", None, limit - len(self._inflight))]
        else:
            wanted = [(b.name, b.where, b.limit - len(self._running.get(b.name, ()))) for b in self.bulkheads()]
        wanted = [w for w in wanted if w[2] > 0]
        if not wanted:
            return []

        def claim(tx: Any) -> list[tuple[str, Job]]:
            return [(name, j) for name, where, free in wanted
                    for j in tx.claim_jobs(now, free, self.claimer, self.lease, where)]

        t0 = time.perf_counter()
        jobs = await self.store.transaction(claim)
        self.metrics.claim_duration.observe(time.perf_counter() - t0)
        for name, j in jobs:
            self.claimed[name] = self.claimed.get(name, 0) + 1
            if j.takeover:
                self.metrics.lease_takeovers.inc()
        return jobs

    async def _execute(self, job: Job, family: str = "all") -> None:
        try:
            handler = spec(job.kind).handler  # the table of row kinds (receiver/jobkinds.py)
            if handler == "runner":
                await self.runner.run(job)
            elif handler == "targets":
                await self.targets.run(job)
            elif handler == "silences" and self.silences is not None:
                await self.silences.run(job)
            else:
                await self.sender.run(job)
        except Exception:  # a bug must not kill the loop; the row's lease expires and it is retried
            log.exception("work row crashed", job=job.key)
        finally:
            self._inflight.pop(job.id, None)
            self._running.get(family, set()).discard(job.id)
            self._wake.set()

    def _start(self, jobs: list[tuple[str, Job]]) -> list[asyncio.Task[None]]:
        tasks = []
        for family, j in jobs:
            t = asyncio.get_running_loop().create_task(self._execute(j, family))
            self._inflight[j.id] = t
            self._running.setdefault(family, set()).add(j.id)
            tasks.append(t)
        return tasks

    async def run_once(self) -> int:
        """Process pending alerts, then run every due row to completion (repeatedly, while any is due).

        For tests and ``simulate``: with a fake clock nothing is due until the clock is moved.
        Returns the number of rows executed.
        """
        ran = 0
        while True:
            if self.maintenance is not None:
                await self.maintenance()
            await self.process_alerts()
            jobs = await self._claim(self.concurrency)
            if not jobs:
                return ran
            await asyncio.gather(*self._start(jobs))
            ran += len(jobs)

    async def run_forever(self) -> None:
        """The service loop: wake on demand or every ``poll_interval`` seconds; never raises."""
        renew = asyncio.get_running_loop().create_task(self._renew_loop())
        try:
            while True:
                self._wake.clear()
                try:
                    if self.maintenance is not None:
                        await self.maintenance()
                    await self.process_alerts()
                    self._start(await self._claim(self.concurrency))
                    if time.monotonic() >= self._gauges_due:  # two COUNTs per loop turn cost more than a page
                        await self.refresh_gauges()
                        self._gauges_due = time.monotonic() + self.poll_interval
                except StoreError as e:
                    log.warning("store unavailable; will retry", error=str(e))
                # asyncio.timeout, not wait_for: in Python 3.11 wait_for drops a cancellation that arrives
                # as the event is set (gh-86296), and shutdown then waits for this loop forever.
                self.waiting = True
                try:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_interval):
                            await self._wake.wait()
                finally:
                    self.waiting = False
        finally:
            renew.cancel()
            for t in list(self._inflight.values()):
                t.cancel()
            await asyncio.gather(renew, *self._inflight.values(), return_exceptions=True)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(max(0.5, self.lease / 3))
            ids = list(self._inflight)
            if ids:
                until = self.clock.now() + self.lease
                with contextlib.suppress(StoreError):
                    await self.store.transaction(partial(_renew, ids, self.claimer, until))


def _renew(ids: list[int], claimer: str, until: float, tx: Any) -> None:
    tx.renew_leases(ids, claimer, until)
