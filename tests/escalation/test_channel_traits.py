"""The sender follows a channel's declared traits: a test-only notifier changes what it sends, sender.py untouched."""

from __future__ import annotations

from typing import Any

import pytest

from receiver.escalation.sender import Sender
from receiver.notify import Delivery, Message
from receiver.store.base import JobFilter
from tests.conftest import alert, payload


class Recorder:
    """A test-only channel: records every message; ``replies_in_thread`` as constructed."""

    def __init__(self, replies_in_thread: bool) -> None:
        self.replies_in_thread = replies_in_thread
        self.sent: list[Message] = []

    async def send(self, target: Any, message: Message) -> Delivery:
        self.sent.append(message)
        return Delivery(f"rec-{len(self.sent)}")


@pytest.mark.parametrize(("threads", "kind"), [(True, "update"), (False, "page")])
async def test_a_notice_is_a_thread_reply_or_a_new_page_as_the_channel_declares(
        make_runbookd: Any, threads: bool, kind: str) -> None:
    """A new alert's ``notice`` on a receiver goes out as ``update`` on a threading channel, else as ``page``."""
    rb = await make_runbookd(None)
    assert (await rb.post_alerts(payload(alert()))).status == 200
    await rb.run()
    c = rb.c
    [inc] = await c.store.read(lambda tx: tx.list_incidents(status=None, alertname="TradingSystemDown", limit=10))
    now = rb.clock.now()
    channel = Recorder(replies_in_thread=threads)
    sender = Sender(c.store, {"slack": channel}, c.rules.get, c.metrics, rb.clock, dry_run=False,
                    external_url="http://runbookd.test")

    def claim(tx: Any) -> Any:
        tx.enqueue(f"notice:{inc.id}:test", "notice", inc.id, {"receiver": "slack-critical", "fingerprint": "f2"},
                   now, now)
        return tx.claim_jobs(now, 10, "test", 30.0, JobFilter(include=((("notice",), None),)))

    [job] = await c.store.transaction(claim)
    await sender.run(job)
    assert [m.kind for m in channel.sent] == [kind]
    assert "joined this acknowledged incident" in (channel.sent[0].text or "")
