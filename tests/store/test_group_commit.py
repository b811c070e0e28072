"""Group commit: batching of concurrent ingests, failures, and two batches under way at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from receiver.errors import StoreUnavailable
from receiver.model import AlertRecord
from receiver.store.group_commit import GroupCommit


def rec(fp: str) -> AlertRecord:
    return AlertRecord(fp, "2026-11-22T01:00:00.000000Z", "firing", {"alertname": "X"}, {}, 0.0)


class Committer:
    """Records each batch; each commit waits until the test releases it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.fail = False

    async def commit(self, batch: list[Any]) -> list[int]:
        self.batches.append([a.fingerprint for alerts, _, _ in batch for a in alerts])
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if self.fail:
            raise RuntimeError("disk full")
        return [len(alerts) for alerts, _, _ in batch]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_requests_arriving_during_a_commit_share_the_next_one() -> None:
    """With one batch at a time, everything that arrives while a batch commits goes in one next batch."""
    c = Committer()
    g = GroupCommit(c.commit, lambda e: StoreUnavailable(str(e)))
    first = asyncio.create_task(g.submit([rec("a")], 0.0))
    await settle()
    rest = [asyncio.create_task(g.submit([rec(fp)], 0.0)) for fp in "bcd"]
    await settle()
    assert c.batches == [["a"]]
    c.gates[0].set()
    await settle()
    assert c.batches == [["a"], ["b", "c", "d"]]
    c.gates[1].set()
    assert await asyncio.gather(first, *rest) == [1, 1, 1, 1]


async def test_with_depth_two_the_next_batch_leaves_once_it_is_as_large() -> None:
    """Depth 2: the second batch is handed over while the first commits, but only once it holds as
    many requests as the first, and two at least, so batches do not shrink to single requests."""
    c = Committer()
    g = GroupCommit(c.commit, lambda e: StoreUnavailable(str(e)), depth=2)
    tasks = [asyncio.create_task(g.submit([rec("a")], 0.0))]
    await settle()
    assert c.batches == [["a"]]
    tasks.append(asyncio.create_task(g.submit([rec("b")], 0.0)))
    await settle()
    assert c.batches == [["a"]]  # a lone request waits for the batch under way
    tasks.append(asyncio.create_task(g.submit([rec("c")], 0.0)))
    await settle()
    assert c.batches == [["a"], ["b", "c"]]  # two waiting: handed over while "a" commits
    tasks += [asyncio.create_task(g.submit([rec(fp)], 0.0)) for fp in "de"]
    await settle()
    assert len(c.batches) == 2  # two under way: the next waits for a slot
    c.gates[0].set()
    await settle()
    assert c.batches[2] == ["d", "e"]  # as large as the one still committing
    c.gates[1].set()
    c.gates[2].set()
    assert await asyncio.gather(*tasks) == [1] * 5


async def test_a_failed_commit_answers_every_request_of_its_batch() -> None:
    """Each request of a batch whose commit failed gets the StoreUnavailable (a 503), none hangs."""
    c = Committer()
    c.fail = True
    g = GroupCommit(c.commit, lambda e: StoreUnavailable(f"commit failed: {e}"))
    tasks = [asyncio.create_task(g.submit([rec(fp)], 0.0)) for fp in "abc"]
    await settle()
    c.gates[0].set()  # "a" fails; "b" and "c" then commit together, and fail too
    await settle()
    assert c.batches == [["a"], ["b", "c"]]
    c.gates[1].set()
    for t in tasks:
        with pytest.raises(StoreUnavailable, match="disk full"):
            await t
