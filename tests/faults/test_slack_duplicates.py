"""A retried Slack page never doubles: an attempt whose outcome is unknown is looked up before re-posting.

Slack does not deduplicate ``chat.postMessage``; runbookd puts the row's key in the page's message
metadata and, before re-sending a page whose previous attempt timed out or lost its connection,
reads ``conversations.history`` for it (receiver/notify/slack.py).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import alert, payload

FAST = {"retry": {"jitter": "0s"}, "slack": {"read": "300ms", "connect": "300ms"}}
POST = "/api/chat.postMessage"


def pages(fakes: Any) -> list[dict[str, Any]]:
    """Top-level messages Slack holds in #critical (the pages; updates are thread replies)."""
    return [m for m in fakes.slack.messages.values() if not m["thread_ts"]]


async def events(rb: Any, kind: str) -> list[dict[str, Any]]:
    [inc] = await rb.api("/api/v1/incidents")
    tl = (await rb.api(f"/api/v1/incidents/{inc['id']}"))["timeline"]
    return [e for e in tl if e["kind"] == kind and e["data"].get("receiver") == "slack-critical"]


async def test_timed_out_post_that_slack_applied_is_not_posted_again(fakes: Any, make_runbookd: Any) -> None:
    """Slack posts the page but never answers: the retry finds it in the history and posts nothing."""
    rb = await make_runbookd(fakes, notify=FAST)
    fakes.slack.hang(POST, after=True)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    assert len(pages(fakes)) == 1 and fakes.slack.count(POST) == 1
    [retry] = await events(rb, "notify.retry")
    assert "TimeoutError" in retry["message"] or "timeout" in retry["message"].lower()
    fakes.slack.release()
    await rb.advance(5)
    assert len(pages(fakes)) == 1
    assert fakes.slack.count("/api/conversations.history") == 1
    [ok] = [e for e in await events(rb, "notify.ok") if e["data"]["kind"] == "page"]
    assert ok["data"]["found"] is True
    [page] = pages(fakes)
    assert ok["data"]["ts"] == page["ts"]


async def test_connection_dropped_before_posting_is_posted_once(fakes: Any, make_runbookd: Any) -> None:
    """Slack drops the connection before posting: the retry looks, finds nothing and posts the page once."""
    rb = await make_runbookd(fakes, notify=FAST)
    fakes.slack.close_next(path=POST)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    assert pages(fakes) == []
    await rb.advance(5)
    assert len(pages(fakes)) == 1
    assert fakes.slack.count("/api/conversations.history") == 1
    assert len(await events(rb, "notify.retry")) == 1


async def test_connection_dropped_after_posting_is_not_posted_again(fakes: Any, make_runbookd: Any) -> None:
    """Slack posts the page, then the connection drops: the retry finds the page and posts nothing."""
    rb = await make_runbookd(fakes, notify=FAST)
    fakes.slack.close_next(path=POST, after=True)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    await rb.advance(5)
    assert len(pages(fakes)) == 1
    assert fakes.slack.count(POST) == 1


async def test_a_500_is_retried_without_a_lookup(fakes: Any, make_runbookd: Any) -> None:
    """A 500 says Slack did not post: the page is re-posted at once, with no history lookup."""
    rb = await make_runbookd(fakes, notify=FAST)
    fakes.slack.fail_next(1, 500, path=POST)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    await rb.advance(5)
    assert len(pages(fakes)) == 1
    assert fakes.slack.count("/api/conversations.history") == 0


async def test_page_cut_off_by_a_crash_after_slack_posted_is_not_posted_again(
        fakes: Any, make_runbookd: Any) -> None:
    """A process dies while Slack has posted but not answered; the row taken over finds the page, posts nothing."""
    import asyncio
    import contextlib

    rb = await make_runbookd(fakes, notify={"slack": {"read": "60s"}})
    fakes.slack.hang(POST, after=True)
    await rb.post_alerts(payload(alert()))
    crashed = asyncio.get_running_loop().create_task(rb.run())
    while not fakes.slack.holding:
        await asyncio.sleep(0.01)
    crashed.cancel()  # the process is gone: its row stays "running" under a lease that runs out
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    fakes.slack.release()
    assert len(pages(fakes)) == 1
    await rb.advance(31)  # past the 30 s lease: another claimer takes the row over
    assert len(pages(fakes)) == 1
    assert fakes.slack.count("/api/conversations.history") == 1
    [ok] = [e for e in await events(rb, "notify.ok") if e["data"]["kind"] == "page"]
    assert ok["data"]["found"] is True
