"""Notification channels and their registry (one line per channel, no decorators).

Each channel implements ``receiver.notify.base.Notifier``; ``build_notifiers`` is called once by
``receiver.app`` with the integrations' config. A channel whose credentials are unset is still
built and answers ``Delivery(None, {"skipped": why})`` without sending anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from receiver.notify.base import ChannelTraits, Delivery, Message, Notifier, close_notifiers, traits_of
from receiver.notify.email import EmailNotifier
from receiver.notify.pagerduty import PagerDutyNotifier
from receiver.notify.render import MessageRenderer
from receiver.notify.slack import SlackNotifier
from receiver.notify.twilio import SmsNotifier, VoiceNotifier
from receiver.rules.receivers import PagerDutyTarget
from receiver.settings import Settings

__all__ = ["CHANNELS", "HEARTBEAT_CHANNEL", "Channel", "ChannelTraits", "Delivery", "Message", "MessageRenderer",
           "Notifier", "build_notifiers", "channel_traits", "close_notifiers", "heartbeat_route"]

class Channel(Protocol):
    """A channel's notifier class, as the registry holds it: built from ``runbookd.yml``."""

    def from_settings(self, settings: Settings, templates: MessageRenderer | None = None) -> Notifier | None:
        """The channel's notifier, or ``None`` when ``settings`` does not configure the channel."""
        ...


#: The channels by receiver kind (the channel key of ``receiver.rules.receivers``): one line per channel.
CHANNELS: dict[str, Channel] = {
    "slack": SlackNotifier,
    "pagerduty": PagerDutyNotifier,
    "email": EmailNotifier,
    "sms": SmsNotifier,
    "voice": VoiceNotifier,
}

#: The channel that pages the dead man's switch (``heartbeat.routing_key`` names its routing key).
HEARTBEAT_CHANNEL = "pagerduty"


def channel_traits(kind: str, notifiers: Mapping[str, Any] | None = None,
                   channels: Mapping[str, type] | None = None) -> ChannelTraits:
    """How receivers of channel ``kind`` are followed up (``ChannelTraits``).

    The built notifier in ``notifiers`` answers when there is one, else the class registered in
    ``channels`` (default ``CHANNELS``); an unknown kind has the default traits (follow-ups as
    replies, no edits, no chat).
    """
    n = (notifiers or {}).get(kind)
    if n is None:
        n = (CHANNELS if channels is None else channels).get(kind)
    return traits_of(n) if n is not None else ChannelTraits()


def heartbeat_route(notifiers: Mapping[str, Notifier], routing_key: str) -> tuple[Notifier | None, Any]:
    """The notifier and target that page the dead man's switch: ``(notifier or None, target)``."""
    return notifiers.get(HEARTBEAT_CHANNEL), PagerDutyTarget(routing_key=routing_key, severity="critical")


def build_notifiers(settings: Settings, templates: MessageRenderer | None = None) -> dict[str, Notifier]:
    """The notifiers by receiver kind, one per channel of ``CHANNELS`` that ``settings`` configures.

    Each channel's ``from_settings(settings, templates)`` builds it from ``runbookd.yml`` (its
    credentials, ``notify.<kind>`` time-outs); a channel that answers ``None`` is not configured at all
    (email without ``smtp``), and its receivers' messages are recorded as skipped. ``templates`` (a
    ``MessageRenderer``: the app passes ``receiver.escalation.templates.Templates`` built with the
    operator's ``templates_dir``) renders the email bodies and Slack's thread replies. Raises
    ``ValueError`` when a configured channel needs templates and none are given (email).
    The notifiers keep clients (sockets, threads) across sends: ``close_notifiers`` releases them.
    """
    notifiers: dict[str, Notifier] = {}
    for kind, cls in CHANNELS.items():
        built = cls.from_settings(settings, templates)
        if built is not None:
            notifiers[kind] = built
    return notifiers
