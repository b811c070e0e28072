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
    """

    def __init__(self, commit: Callable[[list[Entry]], Awaitable[list[int]]],
                 failed: Callable[[Exception], StoreUnavailable]) -> None:
        self._commit = commit
        self._failed = failed
        self._batch: list[Entry] = []
        self._flushing = False

    async def submit(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Commit ``alerts`` in the next batch; returns rows changed. Raises ``StoreUnavailable``."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self._batch.append((alerts, now, fut))
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                try:
                    counts = await self._commit(batch)
                except Exception as e:  # every waiting request gets an answer (503), never a hang
                    err = self._failed(e)
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(err)
                    continue
                for (_, _, fut), n in zip(batch, counts, strict=True):
                    if not fut.done():
                        fut.set_result(n)
        finally:
            self._flushing = False
