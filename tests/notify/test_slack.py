"""SlackNotifier: the real slack-sdk AsyncWebClient against the fake Slack over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from receiver.errors import DeliveryError
from receiver.notify.slack import NOT_CONFIGURED, SlackNotifier
from receiver.rules.model import SlackTarget
from receiver.settings import SlackConfig
from tests.fakes.slack import FakeSlack, channel_id
from tests.notify.conftest import make_message

CRITICAL = SlackTarget(channel="#critical")


def block_types(blocks: list[dict[str, Any]]) -> list[str]:
    """The ``type`` of each block."""
    return [b["type"] for b in blocks]


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    """The ``action_id`` of each button."""
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Everything in the blocks as one string, for substring checks."""
    return repr(blocks)


async def page(notifier: SlackNotifier, **overrides: Any) -> str:
    """Send a page to #critical (message fields from ``overrides``); return its ref."""
    delivery = await notifier.send(CRITICAL, make_message(**overrides))
    assert delivery.ref is not None
    return delivery.ref


async def test_a_page_is_a_top_level_message_whose_ref_is_channel_and_ts(
    slack: FakeSlack, slack_config: SlackConfig
) -> None:
    delivery = await SlackNotifier(slack_config).send(CRITICAL, make_message())
    [post] = slack.posts("#critical")
    assert "thread_ts" not in post
    assert delivery.ref == f"{channel_id('#critical')}:1700000000.000101"
    assert delivery.data == {"channel": channel_id("#critical"), "ts": "1700000000.000101"}


async def test_the_page_header_shows_severity_state_and_title(slack: FakeSlack, slack_config: SlackConfig) -> None:
    await page(SlackNotifier(slack_config))
    [post] = slack.posts()
    assert post["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "🔴 P0 FIRING — TradingSystemDown"},
    }
    assert post["text"].startswith("🔴 P0 FIRING — TradingSystemDown: Trading system is down")


async def test_the_page_carries_summary_labels_runbook_playbook_context_and_buttons(
    slack: FakeSlack, slack_config: SlackConfig
) -> None:
    await page(SlackNotifier(slack_config))
    blocks = slack.posts()[0]["blocks"]
    assert block_types(blocks) == ["header", "section", "section", "section", "section", "context", "actions"]
    text = all_text(blocks)
    assert "No heartbeat from execution for 2m" in text
    assert "*instance*\\nexec-1:9100" in text
    assert "<https://runbooks.example.com/trading-down|Runbook>" in text
    assert "*Playbook*\\n• stop-trading (http): ok — 200" in text
    assert "Incident `inc-42`" in text and "2027-01-15 08:00:00 UTC" in text
    assert buttons(blocks) == ["incident_ack", "incident_resolve"]
    assert {e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]} == {"inc-42"}


async def test_label_values_are_escaped_so_they_cannot_mention_or_link(
    slack: FakeSlack, slack_config: SlackConfig
) -> None:
    labels = {"alertname": "X", "team": "<!channel> & <https://evil.example|click>"}
    await page(SlackNotifier(slack_config), labels=labels, summary="<!here> hi")
    text = all_text(slack.posts()[0]["blocks"])
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
    assert "<!channel>" not in text and "<!here>" not in text
    assert "<!here>" not in slack.posts()[0]["text"]


async def test_a_dry_run_page_is_marked(slack: FakeSlack, slack_config: SlackConfig) -> None:
    delivery = await SlackNotifier(slack_config).send(CRITICAL, make_message(dry_run=True))
    [post] = slack.posts()
    assert post["text"].startswith("[DRY-RUN]")
    assert "*DRY-RUN*" in all_text(post["blocks"])
    assert delivery.data["dry_run"] is True


async def test_an_update_is_a_thread_reply_under_the_page(slack: FakeSlack, slack_config: SlackConfig) -> None:
    notifier = SlackNotifier(slack_config)
    ref = await page(notifier)
    delivery = await notifier.send(CRITICAL, make_message(kind="update", ref=ref, text="still down, 10m"))
    reply = slack.posts()[1]
    channel, ts = ref.split(":")
    assert reply["channel"] == channel and reply["thread_ts"] == ts
    assert reply["text"] == "still down, 10m"
    assert delivery.ref == f"{channel}:1700000000.000102"


async def test_an_update_without_a_page_is_posted_top_level(slack: FakeSlack, slack_config: SlackConfig) -> None:
    await SlackNotifier(slack_config).send(CRITICAL, make_message(kind="update", text="hello"))
    [post] = slack.posts("#critical")
    assert "thread_ts" not in post


async def test_an_ack_edits_the_page_in_place_and_drops_the_ack_button(
    slack: FakeSlack, slack_config: SlackConfig
) -> None:
    notifier = SlackNotifier(slack_config)
    ref = await page(notifier)
    ack = make_message(kind="ack", ref=ref, status="acknowledged", acknowledged_by="alice")
    delivery = await notifier.send(CRITICAL, ack)
    assert delivery.ref == ref
    [update] = slack.updates()
    channel, ts = ref.split(":")
    assert (update["channel"], update["ts"]) == (channel, ts)
    stored = slack.messages[(channel, ts)]["blocks"]
    assert stored[0]["text"]["text"] == "🔴 P0 ACKNOWLEDGED — TradingSystemDown"
    assert buttons(stored) == ["incident_resolve"]
    assert "acknowledged by alice" in all_text(stored)
    assert len(slack.posts()) == 1


async def test_a_refresh_without_a_page_is_skipped(slack: FakeSlack, slack_config: SlackConfig) -> None:
    delivery = await SlackNotifier(slack_config).send(CRITICAL, make_message(kind="refresh"))
    assert delivery.ref is None and delivery.data == {"skipped": "no page to update"}
    assert slack.count() == 0


async def test_resolve_edits_the_page_and_replies_in_the_thread_with_the_duration(
    slack: FakeSlack, slack_config: SlackConfig
) -> None:
    notifier = SlackNotifier(slack_config)
    ref = await page(notifier)
    resolved = make_message(kind="resolve", ref=ref, status="resolved", resolved_at=1_800_000_725.0)
    delivery = await notifier.send(CRITICAL, resolved)
    channel, ts = ref.split(":")
    stored = slack.messages[(channel, ts)]["blocks"]
    assert stored[0]["text"]["text"] == "✅ P0 RESOLVED — TradingSystemDown"
    assert buttons(stored) == []
    reply = slack.posts()[1]
    assert reply["thread_ts"] == ts
    assert reply["text"] == "✅ RESOLVED — TradingSystemDown after 12m 5s"
    assert delivery.ref == f"{channel}:1700000000.000102"


async def test_slack_not_configured_is_skipped(slack: FakeSlack) -> None:
    notifier = SlackNotifier(SlackConfig(api_url=slack.url + "/api/"))
    delivery = await notifier.send(CRITICAL, make_message())
    assert delivery.ref is None and delivery.data == {"skipped": NOT_CONFIGURED}
    assert slack.count() == 0


async def test_a_429_from_slack_is_retryable_and_not_retried_inside_the_sdk(
    slack: FakeSlack, slack_config: SlackConfig
) -> None:
    slack.fail_next(2, 429)
    with pytest.raises(DeliveryError) as exc:
        await SlackNotifier(slack_config).send(CRITICAL, make_message())
    assert exc.value.retryable is True
    assert "ratelimited" in exc.value.reason and "retry after 1s" in exc.value.reason
    assert slack.count() == 1


async def test_a_503_from_slack_is_retryable(slack: FakeSlack, slack_config: SlackConfig) -> None:
    slack.fail_next(1, 503)
    with pytest.raises(DeliveryError) as exc:
        await SlackNotifier(slack_config).send(CRITICAL, make_message())
    assert exc.value.retryable is True


async def test_a_500_with_an_html_body_is_retryable(slack: FakeSlack, slack_config: SlackConfig) -> None:
    slack.fail_next(1, 500, body="<html>oops</html>")
    with pytest.raises(DeliveryError) as exc:
        await SlackNotifier(slack_config).send(CRITICAL, make_message())
    assert exc.value.retryable is True


async def test_channel_not_found_is_not_retryable(slack: FakeSlack, slack_config: SlackConfig) -> None:
    slack.unknown_channels.add("#critical")
    with pytest.raises(DeliveryError) as exc:
        await SlackNotifier(slack_config).send(CRITICAL, make_message())
    assert exc.value.retryable is False
    assert "channel_not_found" in exc.value.reason


async def test_a_wrong_token_is_not_retryable(slack: FakeSlack) -> None:
    config = SlackConfig(token="xoxb-wrong", api_url=slack.url + "/api/")
    with pytest.raises(DeliveryError) as exc:
        await SlackNotifier(config).send(CRITICAL, make_message())
    assert exc.value.retryable is False
    assert "invalid_auth" in exc.value.reason


async def test_an_unreachable_slack_is_retryable(dead_url: str) -> None:
    config = SlackConfig(token="xoxb-test-token", api_url=dead_url + "/api/")
    with pytest.raises(DeliveryError) as exc:
        await SlackNotifier(config).send(CRITICAL, make_message())
    assert exc.value.retryable is True


async def test_a_slow_slack_times_out_as_retryable(slack: FakeSlack, slack_config: SlackConfig) -> None:
    slack.delay = 2.0
    started = time.monotonic()
    with pytest.raises(DeliveryError) as exc:
        await SlackNotifier(slack_config, timeout=0.3).send(CRITICAL, make_message())
    assert time.monotonic() - started < 1.5
    assert exc.value.retryable is True


async def test_a_malformed_ref_is_not_retryable(slack: FakeSlack, slack_config: SlackConfig) -> None:
    with pytest.raises(DeliveryError) as exc:
        await SlackNotifier(slack_config).send(CRITICAL, make_message(kind="ack", ref="nonsense"))
    assert exc.value.retryable is False
    assert slack.count() == 0


async def test_a_429_from_slack_carries_its_retry_after(slack: FakeSlack, slack_config: SlackConfig) -> None:
    slack.fail_next(1, 429, headers={"Retry-After": "30"})
    with pytest.raises(DeliveryError) as exc:
        await SlackNotifier(slack_config).send(CRITICAL, make_message())
    assert exc.value.retry_after == 30.0 and exc.value.unknown is False


async def test_a_page_carries_its_key_in_message_metadata(slack: FakeSlack, slack_config: SlackConfig) -> None:
    await SlackNotifier(slack_config).send(CRITICAL, make_message(idempotency_key="page:i1:0:0:slack-critical"))
    [msg] = slack.messages.values()
    assert msg["metadata"] == {"event_type": "runbookd_page", "event_payload": {"key": "page:i1:0:0:slack-critical"}}


async def test_a_resent_page_whose_history_cannot_be_read_is_posted_and_marked_unverified(
    slack: FakeSlack, slack_config: SlackConfig
) -> None:
    """Real Slack wants a channel id for conversations.history: with a #name the page is posted, flagged."""
    slack.history_needs_id = True
    d = await SlackNotifier(slack_config).send(CRITICAL, make_message(idempotency_key="k1", resend=True))
    assert len(slack.messages) == 1
    assert "channel_not_found" in d.data["unverified"]
