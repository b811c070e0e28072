"""Group commit for ingest, shared by the store backends.

Concurrent webhook requests append their alerts to one pending batch; a single flusher commits the
whole batch in one transaction while the next batch gathers, then answers each request with the
number of its own rows that changed. One commit (and one thread hop) per batch of requests, not per
request, is what lets one store take thousands of alerts per second.

A failed batch is classified by the store's ``failed``: an outage (``StoreUnavailable``) fails every
request of the batch (each gets its 503); any other failure may be one request's data (a value the
database cannot hold), so the batch's requests are committed again one by one and only those that
fail alone get the error (``StoreRejected``: 400; another ``StoreError``: 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from receiver.errors import StoreError, StoreUnavailable
from receiver.model import AlertRecord

#: One request's share of a batch: its alerts, its receive time (epoch seconds) and its answer.
Entry = tuple[Sequence[AlertRecord], float, "asyncio.Future[int]"]


class GroupCommit:
    """Batches ``submit`` calls and commits each batch with ``commit``.

    ``commit(batch)`` returns one changed-row count per entry, in order. ``failed(exc)`` classifies its
    exception as a ``StoreError``: a ``StoreUnavailable`` is given to every request of the failed
    batch (so no request hangs: each gets its 503); any other makes each request of the batch commit
    alone, in order, so that one bad request fails alone. A request retried alone is applied after
    batches that were already under way (``depth`` 2): the stores keep an older state from
    overwriting a newer one whatever the order, as with an Alertmanager HA pair.

    ``depth`` is how many batches may be committing at once (``commit`` must then apply them in the
    order it was called). With 2, the next batch is handed over while the current one commits, as
    soon as it is as large as that one (and holds two requests at least), so under load the
    committer never waits for the event loop between two batches, and batches stay as large as
    with one; a lone request waits for the batch in flight, as with one.
    """

    def __init__(self, commit: Callable[[list[Entry]], Awaitable[list[int]]],
                 failed: Callable[[Exception], StoreError], depth: int = 1) -> None:
        self._commit = commit
        self._failed = failed
        self.depth = depth
        self._batch: list[Entry] = []
        self._inflight = 0
        self._last_size = 0

    async def submit(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Commit ``alerts`` in the next batch; returns rows changed.

        Raises ``StoreUnavailable`` (outage), ``StoreRejected`` (this request's data) or ``StoreError``.
        """
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._batch.append((alerts, now, fut))
        self._send()
        return await fut

    def _send(self) -> None:
        while self._batch and (self._inflight == 0 or (
                self._inflight < self.depth and len(self._batch) >= max(2, self._last_size))):
            batch, self._batch = self._batch, []
            self._inflight += 1
            self._last_size = len(batch)
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[Entry]) -> None:
        try:
            try:
                counts = await self._commit(batch)
            except Exception as e:  # every waiting request gets an answer, never a hang
                err = self._failed(e)
                if isinstance(err, StoreUnavailable) or len(batch) == 1:
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(err)
                else:
                    await self._one_by_one(batch)
                return
            for (_, _, fut), n in zip(batch, counts, strict=True):
                if not fut.done():
                    fut.set_result(n)
        finally:
            self._inflight -= 1
            self._send()

    async def _one_by_one(self, batch: list[Entry]) -> None:
        for entry in batch:
            fut = entry[2]
            try:
                n = (await self._commit([entry]))[0]
            except Exception as e:  # noqa: BLE001 — classified and answered, never a hang
                if not fut.done():
                    fut.set_exception(self._failed(e))
            else:
                if not fut.done():
                    fut.set_result(n)
