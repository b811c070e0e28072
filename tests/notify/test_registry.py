"""The notifier registry maps every receiver kind to its channel."""

from __future__ import annotations

from receiver.notify import build_notifiers
from receiver.notify.pagerduty import PagerDutyNotifier
from receiver.notify.slack import SlackNotifier
from receiver.notify.twilio import SmsNotifier, VoiceNotifier
from receiver.settings import Settings


def test_build_notifiers_names_each_channel() -> None:
    notifiers = build_notifiers(Settings())
    assert {k: type(v) for k, v in notifiers.items()} == {
        "slack": SlackNotifier,
        "pagerduty": PagerDutyNotifier,
        "sms": SmsNotifier,
        "voice": VoiceNotifier,
    }


def test_every_receiver_model_has_a_channel_and_back() -> None:
    """The rule files' channel keys (receiver.rules.receivers) and the notifier registry name the same channels."""
    from receiver.notify import CHANNELS
    from receiver.rules.receivers import CHANNEL_KINDS

    assert set(CHANNEL_KINDS) == set(CHANNELS)


def test_a_receiver_is_told_apart_by_its_channel_key() -> None:
    """The union picks the model by the key present; the target is that key's value; none or two is refused."""
    import pytest
    from pydantic import TypeAdapter, ValidationError

    from receiver.rules.receivers import EmailReceiver, Receiver, SlackReceiver, SlackTarget

    ta: TypeAdapter[object] = TypeAdapter(Receiver)
    r = ta.validate_python({"name": "a", "slack": {"channel": "#x"}})
    assert isinstance(r, SlackReceiver) and r.kind == "slack" and r.target == SlackTarget(channel="#x")
    assert isinstance(ta.validate_python({"name": "m", "email": {"to": ["a@b.c"]}}), EmailReceiver)
    two = r"exactly one of slack, pagerduty, email, sms, voice \(has slack, email\)"
    with pytest.raises(ValidationError, match=two):
        ta.validate_python({"name": "b", "slack": {"channel": "#x"}, "email": {"to": ["a@b.c"]}})
    with pytest.raises(ValidationError, match="has none"):
        ta.validate_python({"name": "c"})
