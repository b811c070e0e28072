"""Which Slack messages count against the channel's rate limit (``SlackNotifier.rate_limit``)."""

from __future__ import annotations

from receiver.notify.base import Message
from receiver.notify.slack import POST_BURST, POST_INTERVAL, SlackNotifier
from receiver.rules.model import SlackTarget
from receiver.settings import SlackConfig

ON = SlackNotifier(SlackConfig(token="xoxb-test"))


def message(kind: str) -> Message:
    return Message(kind=kind, incident_id="i1", dedup_key="runbookd-i1", severity="P1",  # type: ignore[arg-type]
                   status="firing", title="X")


def test_every_post_to_a_channel_counts_against_that_channels_limit() -> None:
    """Pages, thread replies, resolutions and approval requests post: one per second per channel."""
    for kind in ("page", "update", "resolve", "approval"):
        assert ON.rate_limit(SlackTarget(channel="C1"), message(kind)) == ("slack.post:C1", POST_INTERVAL, POST_BURST)
    assert ON.rate_limit(SlackTarget(channel="C2"), message("page")) == ("slack.post:C2", POST_INTERVAL, POST_BURST)


def test_edits_and_a_disabled_integration_are_not_limited() -> None:
    """An ack or refresh edits the page (``chat.update``); without a token nothing is sent at all."""
    assert ON.rate_limit(SlackTarget(channel="C1"), message("ack")) is None
    assert ON.rate_limit(SlackTarget(channel="C1"), message("refresh")) is None
    assert SlackNotifier(SlackConfig()).rate_limit(SlackTarget(channel="C1"), message("page")) is None
