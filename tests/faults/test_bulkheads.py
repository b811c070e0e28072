"""Bulkheads: a hung vendor fills its own share of the dispatcher and delays no other vendor.

The dispatcher's service loop (``run_forever``) runs against the fakes with the fake clock standing
still (moved a second at a time only where Slack pages wait for their rate-limit slot); Slack holds
every request unanswered until released. The assertions are on ordering and
claims (every PagerDuty page delivered while no Slack call has been answered), not on wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from tests.conftest import alert, payload

N = 40
PRIMARY = "R" * 32


def p0_alerts(n: int) -> dict[str, Any]:
    return payload(*[alert(fingerprint=f"{i:016x}", job=f"engine-{i}") for i in range(n)])


async def until(cond: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Wait for ``cond`` (the service loop runs meanwhile); fail naming ``what`` after ``limit`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not cond():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def until_paced(rb: Any, cond: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """``until``, moving the fake clock a second at a time: Slack's rate limit lets one page per
    second per channel through after a burst of 3, as a row due at its slot."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not cond():
        assert loop.time() < end, f"timed out waiting for {what}"
        rb.clock.advance(1.0)
        rb.c.dispatcher.wake()
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def serving(rb: Any) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(rb.c.dispatcher.run_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def pd_triggers(fakes: Any) -> int:
    """Incidents whose primary PagerDuty trigger was accepted (a budget notice may trigger again)."""
    return len({e["dedup_key"] for e in fakes.pagerduty.events
                if e["routing_key"] == PRIMARY and e["event_action"] == "trigger"})


def slack_pages(fakes: Any) -> int:
    """Top-level Slack pages (they carry runbookd's metadata)."""
    return sum(1 for m in fakes.slack.messages.values() if m.get("metadata"))


async def test_hung_slack_does_not_delay_the_pagerduty_pages(fakes: Any, make_runbookd: Any) -> None:
    """40 P0s with Slack hanging: all 40 PagerDuty triggers and first steps go out while no Slack call returns."""
    rb = await make_runbookd(fakes, notify={"slack": {"read": "120s"}})
    fakes.slack.hang()
    async with serving(rb):
        assert (await rb.post_alerts(p0_alerts(N))).status == 200
        rb.c.dispatcher.wake()
        await until(lambda: pd_triggers(fakes) == N, "40 PagerDuty triggers")
        await until(lambda: fakes.trading.count("/admin/trading/emergency-stop") == N, "40 emergency stops")
        assert fakes.slack.messages == {}  # not one Slack call has been answered yet
        assert 0 < fakes.slack.holding <= rb.c.settings.notify.concurrency["slack"]  # its own bulkhead only
        fakes.slack.release()
        await until_paced(rb, lambda: slack_pages(fakes) == N, "40 Slack pages after Slack recovers")
    assert pd_triggers(fakes) == N
    assert rb.c.dispatcher.claimed["pagerduty"] >= N


async def test_hung_broker_does_not_delay_the_pagerduty_pages(fakes: Any, make_runbookd: Any) -> None:
    """Alpaca holding every cancel-orders call: later incidents' PagerDuty triggers still go out meanwhile."""
    rb = await make_runbookd(fakes, automation={"destructive_budget": None})
    fakes.alpaca.hang("/v2/orders")
    async with serving(rb):
        assert (await rb.post_alerts(p0_alerts(8))).status == 200
        rb.c.dispatcher.wake()
        await until(lambda: fakes.alpaca.holding >= 6, "6 hung broker calls")
        later = payload(*[alert(fingerprint=f"{i:016x}", job=f"later-{i}") for i in range(100, 108)])
        assert (await rb.post_alerts(later)).status == 200
        rb.c.dispatcher.wake()
        await until(lambda: pd_triggers(fakes) == 16, "16 PagerDuty triggers")
        assert fakes.alpaca.holding >= 6  # the broker has answered nothing yet
        fakes.alpaca.release()


async def test_hung_pagerduty_does_not_delay_the_slack_pages(fakes: Any, make_runbookd: Any) -> None:
    """PagerDuty holding every event: all 20 Slack pages and emergency steps go out while no event is answered."""
    rb = await make_runbookd(fakes, notify={"pagerduty": {"read": "120s"}})
    fakes.pagerduty.hang()
    async with serving(rb):
        assert (await rb.post_alerts(p0_alerts(20))).status == 200
        rb.c.dispatcher.wake()
        await until_paced(rb, lambda: slack_pages(fakes) == 20, "20 Slack pages")
        await until(lambda: fakes.trading.count("/admin/trading/emergency-stop") == 20, "20 emergency stops")
        assert fakes.pagerduty.events == []
        assert 0 < fakes.pagerduty.holding <= rb.c.settings.notify.concurrency["pagerduty"]
        fakes.pagerduty.release()
        await until(lambda: pd_triggers(fakes) == 20, "20 PagerDuty triggers after PagerDuty recovers")
