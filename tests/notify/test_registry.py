"""The notifier registry maps every receiver kind to its channel."""

from __future__ import annotations

from receiver.notify import build_notifiers
from receiver.notify.pagerduty import PagerDutyNotifier
from receiver.notify.slack import SlackNotifier
from receiver.settings import PagerDutyConfig, SlackConfig


def test_build_notifiers_names_each_channel() -> None:
    notifiers = build_notifiers(slack=SlackConfig(), pagerduty=PagerDutyConfig())
    assert {k: type(v) for k, v in notifiers.items()} == {
        "slack": SlackNotifier,
        "pagerduty": PagerDutyNotifier,
    }
