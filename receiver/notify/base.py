"""The ``Notifier`` protocol and the ``Message`` every channel renders.

A notifier takes one ``Message`` for one target and delivers it, returning a ``Delivery`` with the
provider's reference, or raises ``receiver.errors.DeliveryError`` (``retryable`` for transport
errors, 5xx and 429). Notifiers know nothing of incidents beyond the message, nor of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

MessageKind = Literal["page", "update", "refresh", "resolve", "ack", "approval"]


@dataclass(frozen=True)
class Message:
    """One notification about one incident.

    ``kind``:
      - ``page``: the first notification of the incident on this target (Slack: a top-level
        message; PagerDuty: a trigger with ``dedup_key``).
      - ``update``: a status update (Slack: a thread reply under ``ref``; PagerDuty: nothing).
      - ``refresh``: the incident's state changed (Slack: ``chat.update`` of the page ``ref``).
      - ``resolve``: the incident resolved (Slack: a thread reply and an edit of the page;
        PagerDuty: a resolve event for ``dedup_key``).
      - ``ack``: the incident was acknowledged (Slack: edit of the page; PagerDuty: acknowledge).
      - ``approval``: a playbook step asks for approval (Slack: Approve / Reject buttons in the
        page's thread; ``approval`` holds step, action, params, approvers, deadline, on_timeout).
    ``ref``: the provider reference returned by the ``page`` delivery on the same target
    (Slack: ``"<channel id>:<ts>"``), or ``None`` when there is none yet.
    ``actions``: one line per playbook step so far, e.g. ``"stop-trading (http): ok — 200"``.
    ``idempotency_key``: the work row's key, carried in the sent message where the vendor keeps
    it (Slack message metadata), so a re-send can look for it. ``resend``: an earlier attempt's
    outcome is unknown (time-out, dropped connection, crash): a channel that does not deduplicate by
    itself must first look for the message it may have sent. ``recipient``: the person's name when the
    target was resolved from an on-call schedule at send time (a call greets them), else ``None``.
    Times are epoch seconds (UTC).
    """

    kind: MessageKind
    incident_id: str
    dedup_key: str
    severity: str
    status: str
    title: str
    summary: str = ""
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    runbook_url: str | None = None
    actions: list[str] = field(default_factory=list)
    started_at: float = 0.0
    resolved_at: float | None = None
    acknowledged_by: str | None = None
    incident_url: str | None = None
    dry_run: bool = False
    ref: str | None = None
    text: str | None = None
    approval: dict[str, Any] | None = None
    idempotency_key: str | None = None
    resend: bool = False
    recipient: str | None = None


@dataclass(frozen=True)
class Delivery:
    """The outcome of a delivered message: ``ref`` (provider reference) and timeline ``data``."""

    ref: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelTraits:
    """How a channel follows an incident after its page (class attributes of the same names on a notifier).

    ``replies_in_thread``: later messages of the incident (a later escalation step on a receiver
    already paged, a new alert joining an acknowledged incident) are replies in the page's thread
    (Slack, email); false: they are sent as a page again, which the vendor deduplicates by
    ``dedup_key`` (PagerDuty). ``edits_in_place``: the page is edited when the incident changes
    (``refresh`` rows after a playbook finished; Slack). ``chat``: people answer in the channel, so
    approval requests (buttons) and the post-mortem link are posted there (Slack). ``syncs_ack``: an
    acknowledgement or resolution made in the channel is already the state of the channel's own
    incident, so it is not sent back to that channel's receivers (PagerDuty).
    """

    replies_in_thread: bool = True
    edits_in_place: bool = False
    chat: bool = False
    syncs_ack: bool = False


def traits_of(notifier: Any) -> ChannelTraits:
    """The ``ChannelTraits`` a notifier (instance or class) declares; an attribute it lacks takes the default."""
    d = ChannelTraits()
    return ChannelTraits(replies_in_thread=bool(getattr(notifier, "replies_in_thread", d.replies_in_thread)),
                         edits_in_place=bool(getattr(notifier, "edits_in_place", d.edits_in_place)),
                         chat=bool(getattr(notifier, "chat", d.chat)),
                         syncs_ack=bool(getattr(notifier, "syncs_ack", d.syncs_ack)))


class Notifier(Protocol):
    """A notification channel (one file in ``receiver/notify/`` and one line in its registry).

    Optional class attributes ``replies_in_thread``, ``edits_in_place``, ``chat`` and ``syncs_ack`` (see
    ``ChannelTraits``) say how the escalation layer, the approvals and the simulation follow up a
    page on the channel; ``rate_limit(target, message)`` (optional) names its rate limit;
    ``async aclose()`` (optional) releases what the notifier holds across sends (sockets, threads):
    called once on shutdown by ``close_notifiers``, after which the notifier sends nothing.
    """

    async def send(self, target: Any, message: Message) -> Delivery:
        """Deliver ``message`` to ``target`` (the receiver's channel config). Raises ``DeliveryError``."""
        ...


async def close_notifiers(notifiers: Any) -> None:
    """Call the optional ``aclose()`` of every notifier in ``notifiers`` (a mapping or an iterable), once each.

    Every notifier is closed even when one's ``aclose`` raises; the first error is raised after.
    """
    items = list(notifiers.values()) if hasattr(notifiers, "values") else list(notifiers)
    first: BaseException | None = None
    for n in {id(n): n for n in items}.values():
        close = getattr(n, "aclose", None)
        if close is None:
            continue
        try:
            await close()
        except Exception as e:  # the others still close
            first = first or e
    if first is not None:
        raise first
