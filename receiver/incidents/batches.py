"""Pending alerts applied in batches, so that one alert that cannot be applied never blocks the others.

A batch of up to ``BATCH`` pending alerts is one ``process_pending`` transaction. When it fails for any
reason other than a store outage (``StoreUnavailable``) or a race lost to another replica
(``StoreConflict``, redone), its alerts are applied one at a time; an alert that fails alone
``ISOLATED_ATTEMPTS`` times in a row is *quarantined*: set aside in the store with the reason (schema
version 8), counted in ``runbookd_alerts_quarantined_total``, logged, and noted on the timeline of the
incident its rules point at (docs/operations.md, "Quarantined alerts").
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from functools import partial
from typing import Any

import structlog

from receiver.errors import StoreConflict, StoreError, StoreUnavailable
from receiver.incidents.processor import BATCH, Processor, ProcessResult
from receiver.metrics import Metrics
from receiver.store.base import Store

log = structlog.get_logger("runbookd.dispatcher")
#: How often a batch of alerts is redone after losing a race to another replica before giving up.
CONFLICT_RETRIES = 5
#: How often an alert is tried alone, after its batch failed, before it is quarantined.
ISOLATED_ATTEMPTS = 2


def _printable(text: str, limit: int = 500) -> str:
    """``text`` safe for any store and log: NUL and lone surrogates escaped, at most ``limit`` chars."""
    text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()
    return text if len(text) <= limit else text[:limit] + "…"


def _reason(e: BaseException) -> str:
    return _printable(f"{type(e).__name__}: {e}")


def _merge(total: ProcessResult, one: ProcessResult) -> None:
    total.processed += one.processed
    total.opened.update(one.opened)
    total.rule_hits.update(one.rule_hits)
    total.enqueued += one.enqueued
    total.incidents += one.incidents
    total.changes += one.changes


class AlertBatches:
    """Applies pending alerts batch by batch for the dispatcher, quarantining the ones that cannot be."""

    def __init__(self, store: Store, processor: Callable[[], Processor], metrics: Metrics, clock: Any) -> None:
        self.store = store
        self.processor = processor
        self.metrics = metrics
        self.clock = clock

    def _apply(self, proc: Processor, limit: int, tx: Any) -> ProcessResult:
        return proc.process_pending(tx, self.clock.now(), limit)

    async def _process_raced(self, limit: int) -> tuple[Processor, ProcessResult | Exception]:
        """One ``process_pending`` transaction of up to ``limit`` alerts, redone when another replica won
        a race (``StoreConflict``). Returns the processor (``claimed``: what it tried) and its result, or
        the error that is no store outage and no race (the alerts could not be applied).

        Two replicas opening an incident of the same identity at once: the unique open-identity index
        refuses the second, whose whole batch rolls back; redone, it joins the winner's incident.
        Raises ``StoreUnavailable``, and ``StoreConflict`` after ``CONFLICT_RETRIES`` lost races.
        """
        for attempt in range(1, CONFLICT_RETRIES + 1):
            proc = self.processor()
            try:
                return proc, await self.store.transaction(partial(self._apply, proc, limit))
            except StoreConflict as e:
                if attempt == CONFLICT_RETRIES:
                    raise
                log.info("alert batch lost a race to another writer; redoing it", error=str(e), attempt=attempt)
                await asyncio.sleep(random.uniform(0.0, 0.02 * attempt))
            except StoreUnavailable:
                raise
            except Exception as e:  # noqa: BLE001 — bad data or a bug: the caller isolates the alert
                return proc, e
        raise AssertionError("unreachable")

    async def next(self) -> ProcessResult:
        """Apply up to ``BATCH`` pending alerts in one transaction; when it fails for any reason other
        than a store outage or a lost race, apply them one at a time and quarantine each alert that
        fails alone (``ISOLATED_ATTEMPTS`` times), so one bad alert never holds up the others."""
        proc, out = await self._process_raced(BATCH)
        if isinstance(out, ProcessResult):
            return out
        log.warning("alert batch failed; applying its alerts one at a time", error=_reason(out),
                    alerts=len(proc.claimed))
        total = ProcessResult()
        for _ in range(max(1, len(proc.claimed))):
            one = await self._process_one()
            if one is None:
                break
            _merge(total, one)
        return total

    async def _process_one(self) -> ProcessResult | None:
        """Apply the oldest pending alert alone; quarantine it when that fails ``ISOLATED_ATTEMPTS``
        times. ``None`` when none was pending."""
        last, failures = None, 0
        error: Exception | None = None
        for _ in range(3 * ISOLATED_ATTEMPTS):
            proc, out = await self._process_raced(1)
            if isinstance(out, ProcessResult):
                return out if out.processed else None
            error = out
            if not proc.claimed:
                raise StoreError(f"alert processing fails before claiming an alert: {_reason(out)}") from out
            a = proc.claimed[0]
            key = (a.fingerprint, a.starts_at, a.status)
            failures, last = (failures + 1 if key == last else 1), key
            if failures >= ISOLATED_ATTEMPTS:  # the same alert failed alone every time: it is the bad one
                await self._quarantine(proc, a, _reason(out))
                return ProcessResult(processed=1)
        raise StoreError(f"alert processing keeps failing on different alerts: {error!r}") from error

    async def _quarantine(self, proc: Processor, a: Any, reason: str) -> None:
        """Set ``a`` aside for good (schema v8), count it, log it and note it on its incidents' timelines."""
        now = self.clock.now()
        done = await self.store.transaction(
            lambda tx: tx.quarantine_alert(a.fingerprint, a.starts_at, a.status, reason))
        if not done:  # a newer state of it arrived meanwhile: that one is tried on its own
            return
        self.metrics.alerts_quarantined.inc()
        noted: list[str] = []
        try:
            noted = await self.store.transaction(lambda tx: proc.note_quarantined(tx, a, reason, now))
        except Exception as e:  # noqa: BLE001 — the log below still says it all
            log.warning("quarantined alert not noted on a timeline", error=_reason(e))
        log.error("alert quarantined: it cannot be applied; the alerts after it go on", fingerprint=a.fingerprint,
                  starts_at=a.starts_at, status=a.status, alertname=_printable(str(a.labels.get("alertname", ""))),
                  reason=reason, incidents=noted)
