"""Twilio notifiers without the network: the phone target, the texts, folding and the off switch.

The fake Twilio REST API (tests/fakes/twilio.py) and the HTTP-level tests are still to come.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from receiver.errors import DeliveryError
from receiver.notify.twilio import FOLDED_SMS, NOT_CONFIGURED, SmsNotifier, VoiceNotifier, call_twiml, sms_body
from receiver.rules.receivers import PhoneTarget
from receiver.settings import TwilioConfig
from tests.notify.conftest import make_message

ON = TwilioConfig(account_sid="AC" + "0" * 32, auth_token="t" * 32, from_number="+15005550006",
                  api_url="http://127.0.0.1:9")
TO = PhoneTarget(to=["+14155550100"])


def test_a_phone_target_has_exactly_one_of_to_or_schedule() -> None:
    with pytest.raises(ValidationError, match="exactly one of to or schedule"):
        PhoneTarget()
    with pytest.raises(ValidationError, match="exactly one of to or schedule"):
        PhoneTarget(to=["+14155550100"], schedule="fx")
    with pytest.raises(ValidationError, match="pattern"):
        PhoneTarget(to=["4155550100"])
    assert PhoneTarget(schedule="fx").to == []


def test_the_sms_names_severity_title_link_and_how_to_ack() -> None:
    body = sms_body(make_message())
    assert body.startswith("[P0] TradingSystemDown: Trading system is down\n")
    assert "http://127.0.0.1:9096/incidents/inc-42" in body and body.endswith("call acknowledges with 1.")
    assert len(sms_body(make_message(summary="x" * 2000))) <= 320


def test_the_call_twiml_escapes_alert_text_and_strips_control_characters() -> None:
    xml = call_twiml(make_message(title="<Hangup/>&\x07bell", idempotency_key="page:inc-42:1",
                                  recipient="ada"), "https://rb.example/")
    assert "<Hangup/>" not in xml and "&lt;Hangup/&gt;&amp; bell" in xml and "\x07" not in xml
    assert 'action="https://rb.example/twilio/voice?incident=inc-42&amp;key=page%3Ainc-42%3A1"' in xml
    assert 'numDigits="1"' in xml and "Hello ada." in xml and "Press 1 to acknowledge." in xml


async def test_without_credentials_messages_are_skipped() -> None:
    d = await SmsNotifier(TwilioConfig()).send(TO, make_message())
    assert d.ref is None and d.data == {"skipped": NOT_CONFIGURED}
    assert SmsNotifier(TwilioConfig()).rate_limit(TO, make_message()) is None


@pytest.mark.parametrize("kind", ["update", "refresh", "resolve", "ack", "approval"])
async def test_only_a_page_texts_the_rest_is_folded(kind: str) -> None:
    d = await SmsNotifier(ON).send(TO, make_message(kind=kind))
    assert d.data == {"skipped": FOLDED_SMS}
    assert SmsNotifier(ON).rate_limit(TO, make_message(kind=kind)) is None


async def test_an_unresolved_schedule_is_not_retryable() -> None:
    with pytest.raises(DeliveryError) as e:
        await VoiceNotifier(ON).send(PhoneTarget(schedule="fx"), make_message())
    assert not e.value.retryable


async def test_a_refused_connection_is_retryable_and_known_not_sent() -> None:
    with pytest.raises(DeliveryError) as e:
        await SmsNotifier(ON, timeout=5).send(TO, make_message())
    assert e.value.retryable and not e.value.unknown


def test_the_sms_rate_limit_is_per_number() -> None:
    assert SmsNotifier(ON).rate_limit(TO, make_message()) == ("twilio.sms:+14155550100", 30.0, 3)
