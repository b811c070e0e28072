"""SlackNotifier with message templates: thread replies in the seed 004 formats, escaped."""

from __future__ import annotations

from receiver.escalation.templates import Templates
from receiver.notify import build_notifiers
from receiver.notify.slack import SlackNotifier
from receiver.rules.model import SlackTarget
from receiver.settings import Settings, SlackConfig
from tests.fakes.slack import FakeSlack
from tests.notify.conftest import make_message

CRITICAL = SlackTarget(channel="#critical")


async def test_an_update_reply_is_the_seed_incident_update(slack: FakeSlack, slack_config: SlackConfig) -> None:
    notifier = SlackNotifier(slack_config, templates=Templates())
    page = await notifier.send(CRITICAL, make_message())
    await notifier.send(CRITICAL, make_message(kind="update", ref=page.ref, text="failover <!here> started"))
    reply = slack.posts()[1]
    assert page.ref is not None and reply["thread_ts"] == page.ref.split(":")[1]
    assert reply["text"].startswith("📊 INCIDENT UPDATE 📊\nIncident: inc-42 — [P0] TradingSystemDown\n")
    assert "Update: failover &lt;!here&gt; started" in reply["text"] and "<!here>" not in reply["text"]


async def test_a_resolve_reply_is_the_seed_resolution_notice(slack: FakeSlack, slack_config: SlackConfig) -> None:
    notifier = SlackNotifier(slack_config, templates=Templates())
    page = await notifier.send(CRITICAL, make_message())
    await notifier.send(CRITICAL, make_message(kind="resolve", ref=page.ref, status="resolved",
                                               resolved_at=1_800_000_725.0))
    reply = slack.posts()[1]
    assert reply["text"].startswith("✅ INCIDENT RESOLVED ✅\n")
    assert "(12m 5s)" in reply["text"]


async def test_a_failing_template_falls_back_to_the_built_in_text(slack: FakeSlack, slack_config: SlackConfig) -> None:
    class Broken:
        def render_message(self, name: str, message: object, *, now: float | None = None) -> str:
            raise RuntimeError("boom")

    notifier = SlackNotifier(slack_config, templates=Broken())
    await notifier.send(CRITICAL, make_message(kind="update", text="still down"))
    assert slack.posts()[0]["text"] == "still down"


def test_the_registry_gives_slack_the_templates() -> None:
    templates = Templates()
    notifiers = build_notifiers(Settings(), templates)
    slack = notifiers["slack"]
    assert isinstance(slack, SlackNotifier) and slack._templates is templates
    assert set(notifiers) == {"slack", "pagerduty", "email", "sms", "voice"}
