"""Notification channels and their registry (one line per channel, no decorators).

Each channel implements ``receiver.notify.base.Notifier``; ``build_notifiers`` is called once by
``receiver.app`` with the integrations' config. A channel whose credentials are unset is still
built and answers ``Delivery(None, {"skipped": why})`` without sending anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receiver.notify.base import ChannelTraits, Delivery, Message, Notifier, close_notifiers, traits_of
from receiver.notify.email import EmailNotifier
from receiver.notify.pagerduty import PagerDutyNotifier
from receiver.notify.render import MessageRenderer
from receiver.notify.slack import SlackNotifier
from receiver.rules.model import PagerDutyTarget
from receiver.settings import NotifyConfig, PagerDutyConfig, SlackConfig, SmtpConfig

__all__ = ["CHANNELS", "HEARTBEAT_CHANNEL", "ChannelTraits", "Delivery", "Message", "MessageRenderer", "Notifier",
           "build_notifiers", "channel_traits", "close_notifiers", "heartbeat_route"]

#: The channels by receiver kind (the key of ``Receiver.kind``): one line per channel.
CHANNELS: dict[str, type] = {
    "slack": SlackNotifier,
    "pagerduty": PagerDutyNotifier,
    "email": EmailNotifier,
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


def build_notifiers(*, slack: SlackConfig, pagerduty: PagerDutyConfig, smtp: SmtpConfig | None = None,
                    templates: MessageRenderer | None = None, notify: NotifyConfig | None = None,
                    ) -> dict[str, Notifier]:
    """The notifiers by receiver kind: ``"slack"``, ``"pagerduty"`` and, when ``smtp`` is given, ``"email"``.

    ``templates`` (a ``MessageRenderer``: the app passes ``receiver.escalation.templates.Templates``
    built with the operator's ``templates_dir``) renders the email bodies and Slack's update and
    resolution thread replies; email needs it (``ValueError`` without), Slack falls back to its
    built-in short texts.
    ``notify`` gives each vendor's connect and read time-outs (defaults 3 s and 10 s).
    The notifiers keep clients (sockets, threads) across sends: ``close_notifiers`` releases them.
    """
    n = notify or NotifyConfig()
    notifiers: dict[str, Notifier] = {
        "slack": SlackNotifier(slack, templates=templates, timeout=n.slack.read, connect_timeout=n.slack.connect),
        "pagerduty": PagerDutyNotifier(pagerduty, timeout=n.pagerduty.read, connect_timeout=n.pagerduty.connect,
                                       threads=n.concurrency.get("pagerduty", 6)),
    }
    if smtp is not None:
        if templates is None:  # the channel renders through the protocol; the templates are the caller's
            raise ValueError("the email notifier needs templates (a MessageRenderer)")
        notifiers["email"] = EmailNotifier(smtp, templates, timeout=n.email.read)
    return notifiers
