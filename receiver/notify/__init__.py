"""Notification channels and their registry (one line per channel, no decorators).

Each channel implements ``receiver.notify.base.Notifier``; ``build_notifiers`` is called once by
``receiver.app`` with the integrations' config. A channel whose credentials are unset is still
built and answers ``Delivery(None, {"skipped": why})`` without sending anything.
"""

from __future__ import annotations

from receiver.notify.base import Delivery, Message, Notifier
from receiver.notify.pagerduty import PagerDutyNotifier
from receiver.notify.slack import SlackNotifier
from receiver.settings import PagerDutyConfig, SlackConfig

__all__ = ["Delivery", "Message", "Notifier", "build_notifiers"]


def build_notifiers(*, slack: SlackConfig, pagerduty: PagerDutyConfig) -> dict[str, Notifier]:
    """The notifiers by receiver kind: ``"slack"`` and ``"pagerduty"`` (email comes later)."""
    return {
        "slack": SlackNotifier(slack),
        "pagerduty": PagerDutyNotifier(pagerduty),
    }
