"""Group commit isolates failures: a batch that fails for a reason other than an outage is committed
again request by request, so one request whose data the store cannot hold fails alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from receiver.errors import StoreError, StoreRejected, StoreUnavailable
from receiver.model import AlertRecord
from receiver.store.group_commit import GroupCommit


def rec(fp: str, **labels: str) -> AlertRecord:
    return AlertRecord(fp, "2026-11-22T01:00:00.000000Z", "firing", {"alertname": "X", **labels}, {}, 0.0)


def classify(e: Exception) -> StoreError:
    return StoreUnavailable(str(e)) if isinstance(e, OSError) else StoreRejected(str(e))


class PoisonCommitter:
    """Commits a batch unless it holds fingerprint "bad" (a ValueError) or ``outage`` is set (OSError)."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.outage = False
        self.gate = asyncio.Event()

    async def commit(self, batch: list[Any]) -> list[int]:
        self.batches.append([a.fingerprint for alerts, _, _ in batch for a in alerts])
        await self.gate.wait()
        if self.outage:
            raise OSError("disk full")
        if any(a.fingerprint == "bad" for alerts, _, _ in batch for a in alerts):
            raise ValueError("cannot hold NUL")
        return [len(alerts) for alerts, _, _ in batch]


async def test_one_bad_request_fails_alone() -> None:
    """A batch failing on one request's data is retried one by one: the others succeed, the bad one is rejected."""
    c = PoisonCommitter()
    g = GroupCommit(c.commit, classify)
    first = asyncio.create_task(g.submit([rec("first")], 0.0))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(g.submit([rec(fp)], 0.0)) for fp in ("a", "bad", "b")]
    await asyncio.sleep(0)
    c.gate.set()
    assert await first == 1
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], StoreRejected)
    assert c.batches == [["first"], ["a", "bad", "b"], ["a"], ["bad"], ["b"]]


async def test_an_outage_fails_the_whole_batch_without_retrying_it() -> None:
    """A store outage (``StoreUnavailable``) answers every request of the batch at once, with no retry."""
    c = PoisonCommitter()
    c.outage = True
    g = GroupCommit(c.commit, classify)
    first = asyncio.create_task(g.submit([rec("first")], 0.0))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(g.submit([rec(fp)], 0.0)) for fp in "ab"]
    await asyncio.sleep(0)
    c.gate.set()
    for t in (first, *tasks):
        with pytest.raises(StoreUnavailable):
            await t
    assert c.batches == [["first"], ["a", "b"]]


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
async def test_a_value_postgresql_cannot_hold_fails_only_its_request(store: Any) -> None:
    """On PostgreSQL, forty requests sharing a group commit with one holding a NUL all commit; only
    the NUL request fails, with ``StoreRejected`` (defence behind the ingest validation)."""
    good = [[rec(f"{i:016x}")] for i in range(40)]
    bad = [rec("0000000000000ba\u0000d")]
    results = await asyncio.gather(*(store.ingest(r, 0.0) for r in [*good[:20], bad, *good[20:]]),
                                   return_exceptions=True)
    assert isinstance(results[20], StoreRejected), results[20]
    assert results[:20] + results[21:] == [1] * 40
