"""Shutdown of the dispatcher's service loop: a cancellation is never lost (runbookd serve must exit)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest


@pytest.mark.parametrize("turns", range(6))
async def test_cancel_as_the_loop_is_woken_stops_it(make_runbookd: Any, turns: int) -> None:
    """SIGTERM cancels ``run_forever``; a wake-up landing in the same loop turns must not swallow it.

    Python 3.11's ``asyncio.wait_for`` returns the inner result when the cancellation and the inner
    completion meet (gh-86296); the loop then waited for work forever and ``serve`` never exited.
    ``turns`` moves the cancellation across the event loop iterations after the wake-up.
    """
    rb = await make_runbookd(None)
    dispatcher = rb.c.dispatcher
    task = asyncio.get_running_loop().create_task(dispatcher.run_forever())
    async with asyncio.timeout(10):
        while not dispatcher.waiting:
            await asyncio.sleep(0.005)  # the first turn does real store I/O on threads
    dispatcher.wake()
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert done == {task}, "run_forever went on after being cancelled"
    assert task.cancelled()
