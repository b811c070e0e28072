"""A channel's follow-up behaviour is the notifier's (``ChannelTraits``), not code naming its kind."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from receiver.notify import CHANNELS, ChannelTraits, Delivery, Message, build_notifiers, channel_traits
from receiver.notify.base import traits_of
from receiver.settings import Settings

ROOT = Path(__file__).resolve().parents[2] / "receiver"
#: The modules that once branched on ``rcv.kind == "slack"`` and the like.
CHANNEL_BLIND = ["escalation/sender.py", "playbooks/approvals.py", "simulate/plan.py", "incidents/bulkheads.py"]


@pytest.mark.parametrize("module", CHANNEL_BLIND)
def test_module_names_no_channel_kind(module: str) -> None:
    """The sender, the approvals and the simulation hold no string literal naming a registered channel."""
    tree = ast.parse((ROOT / module).read_text())
    named = sorted({n.value for n in ast.walk(tree)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in CHANNELS})
    assert named == [], f"{module} names channel kinds {named}: ask channel_traits() instead"


def test_registered_channels_declare_their_traits() -> None:
    """Slack threads, edits and chats; PagerDuty pages again and keeps its own acks; email threads only."""
    assert channel_traits("slack") == ChannelTraits(replies_in_thread=True, edits_in_place=True, chat=True)
    assert channel_traits("pagerduty") == ChannelTraits(replies_in_thread=False, edits_in_place=False, chat=False,
                                                        syncs_ack=True)
    assert channel_traits("email") == ChannelTraits(replies_in_thread=True, edits_in_place=False, chat=False)


def test_built_notifiers_answer_as_their_classes() -> None:
    """A built notifier's traits are its class's, so the live path and the simulation agree."""
    built = build_notifiers(Settings())
    for kind, notifier in built.items():
        assert traits_of(notifier) == traits_of(CHANNELS[kind]) == channel_traits(kind, built)


class SmsNotifier:
    """A test-only channel: follow-ups are new messages (no threads), nothing edited, no buttons."""

    replies_in_thread = False
    sent: list[Message]

    def __init__(self) -> None:
        self.sent = []

    async def send(self, target: Any, message: Message) -> Delivery:
        self.sent.append(message)
        return Delivery(f"sms-{len(self.sent)}")


def test_a_new_channel_in_a_test_registry_gets_its_own_traits() -> None:
    """A channel registered only in a test registry is followed up as it declares; unset traits default."""
    registry = {**CHANNELS, "sms": SmsNotifier}
    assert channel_traits("sms", channels=registry) == ChannelTraits(replies_in_thread=False)
    assert channel_traits("sms") == ChannelTraits()  # unknown to the real registry: the defaults


def test_a_built_notifier_overrides_the_registry() -> None:
    """The instance the sender holds answers first (a test channel built under an existing kind)."""
    assert channel_traits("slack", {"slack": SmsNotifier()}) == ChannelTraits(replies_in_thread=False)


async def test_the_test_channel_is_a_notifier() -> None:
    """The test-only channel satisfies the ``Notifier`` protocol's ``send``."""
    sms = SmsNotifier()
    d = await sms.send(None, Message(kind="page", incident_id="i1", dedup_key="k", severity="P1",
                                     status="firing", title="t"))
    assert d.ref == "sms-1" and sms.sent[0].kind == "page"
