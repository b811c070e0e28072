"""``receivers:`` — one model per channel, joined in a discriminated union (pydantic v2, unknown keys forbidden).

A receiver is a name plus exactly one channel key, which names its channel kind and holds its target::

    receivers:
      - name: oncall-slack
        slack: {channel: "#oncall"}
      - name: omni-pd
        pagerduty: {routing_key: omni}
      - name: oncall-sms
        sms: {schedule: fx-primary}

The channel key is the union's discriminator (``channel_kind``); each channel's target model lives here,
in the pure rules layer, so ``runbookd check`` validates rule files without loading a vendor SDK. Adding
a channel is its notifier file in ``receiver/notify/`` (one line in ``receiver.notify.CHANNELS``) and its
receiver model here (one line in ``RECEIVER_MODELS``); docs/architecture.md, "Adding a channel".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, BeforeValidator, Discriminator, Field, Tag, model_validator

from receiver.rules.step_base import Name, _Strict


class SlackTarget(_Strict):
    """A Slack channel (``#name`` or a channel id)."""

    channel: str = Field(min_length=1)


class PagerDutyTarget(_Strict):
    """A PagerDuty Events API v2 service: ``routing_key`` names a key of ``pagerduty.routing_keys``."""

    routing_key: str = "default"
    severity: Literal["critical", "error", "warning", "info"] | None = None
    urgency: Literal["high", "low"] = "high"


class EmailTarget(_Strict):
    """Email addresses."""

    to: list[str] = Field(min_length=1)


#: A phone number in E.164 form (``+`` then the country code and number, 8 to 16 characters).
E164 = r"^\+[1-9][0-9]{6,14}$"


class PhoneTarget(_Strict):
    """Phones reached through Twilio (SMS or a voice call): fixed numbers ``to`` (E.164), or ``schedule``,
    the on-call schedule whose current person is called at send time (their ``phone`` in ``access:``).

    Exactly one of the two is given.
    """

    to: list[Annotated[str, Field(pattern=E164)]] = Field(
        default_factory=list, description="phone numbers in E.164 form (+14155550100)")
    schedule: Name | None = Field(default=None, description="an on-call schedule: the person on call when the "
                                  "message is sent is reached at their phone (access.people[].phone)")

    @model_validator(mode="after")
    def _one(self) -> PhoneTarget:
        if bool(self.to) == (self.schedule is not None):
            raise ValueError("must have exactly one of to or schedule")
        return self


class ReceiverBase(_Strict):
    """What every receiver has: ``name`` and ``mute_time_intervals``; ``kind`` is its channel key.

    ``target`` is the channel's own config (the value under the channel key), handed to the
    channel's notifier with each message.
    """

    kind: ClassVar[str] = ""
    name: Name
    mute_time_intervals: list[Name] = Field(
        default_factory=list, description="time intervals during which pages to this receiver wait "
        "(Alertmanager's mute_time_intervals; docs/maintenance.md)")

    @property
    def target(self) -> BaseModel:
        """The channel's target (e.g. ``SlackTarget``) under the receiver's channel key."""
        value = getattr(self, self.kind)
        assert isinstance(value, BaseModel)
        return value


class SlackReceiver(ReceiverBase):
    """A receiver that posts to a Slack channel (``receiver.notify.slack``)."""

    kind: ClassVar[str] = "slack"
    slack: SlackTarget


class PagerDutyReceiver(ReceiverBase):
    """A receiver that triggers a PagerDuty service (``receiver.notify.pagerduty``)."""

    kind: ClassVar[str] = "pagerduty"
    pagerduty: PagerDutyTarget


class EmailReceiver(ReceiverBase):
    """A receiver that mails addresses (``receiver.notify.email``)."""

    kind: ClassVar[str] = "email"
    email: EmailTarget


class SmsReceiver(ReceiverBase):
    """A receiver that texts phones through Twilio's Messages API (``receiver.notify.twilio``)."""

    kind: ClassVar[str] = "sms"
    sms: PhoneTarget


class VoiceReceiver(ReceiverBase):
    """A receiver that calls phones through Twilio's Calls API; pressing 1 acknowledges (``receiver.notify.twilio``)."""

    kind: ClassVar[str] = "voice"
    voice: PhoneTarget


#: The receiver models, one line per channel: the union ``Receiver`` is built from this tuple.
RECEIVER_MODELS: tuple[type[ReceiverBase], ...] = (
    SlackReceiver,
    PagerDutyReceiver,
    EmailReceiver,
    SmsReceiver,
    VoiceReceiver,
)
#: The channel keys a receiver may have, in registry order (``slack``, ``pagerduty``, …).
CHANNEL_KINDS: tuple[str, ...] = tuple(m.kind for m in RECEIVER_MODELS)


def channel_kind(value: Any) -> str | None:
    """The union's discriminator: the channel key of a receiver mapping (or a built receiver's ``kind``)."""
    if isinstance(value, ReceiverBase):
        return value.kind
    if isinstance(value, dict):
        keys = [k for k in CHANNEL_KINDS if k in value]
        return keys[0] if len(keys) == 1 else None
    return None


def _exactly_one(value: Any) -> Any:
    """Refuse a receiver mapping without a channel key or with several, naming the ones it has."""
    if isinstance(value, dict):
        keys = [k for k in CHANNEL_KINDS if k in value]
        if len(keys) != 1:
            raise ValueError(f"must have exactly one of {', '.join(CHANNEL_KINDS)} (has {', '.join(keys) or 'none'})")
    return value


if TYPE_CHECKING:
    Receiver = ReceiverBase
else:
    Receiver = Annotated[
        Annotated[Union[tuple(Annotated[m, Tag(m.kind)] for m in RECEIVER_MODELS)],  # noqa: UP007
                  Discriminator(channel_kind)],
        BeforeValidator(_exactly_one),
    ]
    """One entry of ``receivers:``: the union of ``RECEIVER_MODELS``, told apart by the channel key."""
