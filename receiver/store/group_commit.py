"""Group commit for ingest, shared by the store backends.

Concurrent webhook requests append their alerts to one pending batch; a single flusher commits the
whole batch in one transaction while the next batch gathers, then answers each request with the
number of its own rows that changed. One commit (and one thread hop) per batch of requests, not per
request, is what lets one store take thousands of alerts per second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from receiver.errors import StoreUnavailable
from receiver.model import AlertRecord

#: One request's share of a batch: its alerts, its receive time (epoch seconds) and its answer.
Entry = tuple[Sequence[AlertRecord], float, "asyncio.Future[int]"]


class GroupCommit:
    """Batches ``submit`` calls and commits each batch with ``commit``.

    ``commit(batch)`` returns one changed-row count per entry, in order. ``failed(exc)`` turns its
    exception into the ``StoreUnavailable`` every request of the failed batch receives (so no request
    hangs: each gets its 503).

    ``depth`` is how many batches may be committing at once (``commit`` must then apply them in the
    order it was called). With 2, the next batch is handed over while the current one commits, as
    soon as it is as large as that one (and holds two requests at least), so under load the
    committer never waits for the event loop between two batches, and batches stay as large as
    with one; a lone request waits for the batch in flight, as with one.
    """

    def __init__(self, commit: Callable[[list[Entry]], Awaitable[list[int]]],
                 failed: Callable[[Exception], StoreUnavailable], depth: int = 1) -> None:
        self._commit = commit
        self._failed = failed
        self.depth = depth
        self._batch: list[Entry] = []
        self._inflight = 0
        self._last_size = 0

    async def submit(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Commit ``alerts`` in the next batch; returns rows changed. Raises ``StoreUnavailable``."""
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
            except Exception as e:  # every waiting request gets an answer (503), never a hang
                err = self._failed(e)
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                return
            for (_, _, fut), n in zip(batch, counts, strict=True):
                if not fut.done():
                    fut.set_result(n)
        finally:
            self._inflight -= 1
            self._send()
