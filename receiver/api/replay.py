"""Replay protection of signed vendor requests: each is used once, and PagerDuty events must be newer
than the incident's last opening.

A signature proves who sent a request, not when: a captured, correctly signed request can be sent
again. So, after the signature is verified:

- **Slack** (``/slack/interactions``, ``/slack/commands``): the request's signature (one per timestamp
  and body) is recorded until the end of its 5-minute validity window (``SLACK_WINDOW``, the one
  slack-sdk's ``SignatureVerifier`` enforces); a second use is answered 200 and changes nothing
  (Slack sends an interaction once and never retries it, so a second copy is a replay or a proxy's
  retry of a request that was applied: no error to show anyone).
- **PagerDuty** (``/webhook/pagerduty``, Webhooks v3): the event's ``id`` is recorded for
  ``PAGERDUTY_EVENT_TTL``; a second delivery is answered 200 (PagerDuty retries non-2xx) and changes
  nothing. An event whose ``occurred_at`` is older than the incident's last opening (its start, or its
  latest ``incident.reopened``) is about an earlier episode: 200, no change, and a
  ``pagerduty.stale`` event on the timeline.

The keys live in the store (``seen_requests``, ``Tx.first_use``) so that every replica refuses a
request any of them has seen; the check runs in the same transaction as the change it guards, so a
request whose change failed (503) is not remembered and its retry is applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from receiver.clock import iso
from receiver.model import TimelineEvent

SLACK_WINDOW = 300.0
"""Seconds a Slack request is valid after (and before) its ``X-Slack-Request-Timestamp``."""
PAGERDUTY_EVENT_TTL = 7 * 24 * 3600.0
"""Seconds a PagerDuty event id is remembered (a week: far longer than PagerDuty's retries)."""
T = TypeVar("T")


@dataclass(frozen=True)
class Replayed:
    """A request that was not applied: ``status`` is ``duplicate`` or ``stale``; ``reason`` says why."""

    status: str
    reason: str


class BadEvent(ValueError):
    """A PagerDuty event without a usable ``id`` or ``occurred_at``; ``field`` is its path."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def slack_key(signature: str) -> str:
    """The store key of a Slack request: its ``X-Slack-Signature`` (hashed to a fixed length)."""
    return "slack:" + hashlib.sha256(signature.strip().encode("utf-8", "replace")).hexdigest()


def slack_expiry(timestamp: str, now: float) -> float:
    """Epoch seconds until which a request signed at ``timestamp`` could be accepted: ``timestamp`` +
    ``SLACK_WINDOW`` (``now`` + twice that should the verified header not read as an integer)."""
    try:
        return int(timestamp.strip()) + SLACK_WINDOW
    except ValueError:
        return now + 2 * SLACK_WINDOW


def once(key: str, expires_at: float, now: float, fn: Callable[[Any], T]) -> Callable[[Any], T | Replayed]:
    """A unit of work that runs ``fn(tx)`` only if ``key`` was not used yet (and records it), else
    returns ``Replayed("duplicate", …)`` and changes nothing."""

    def unit(tx: Any) -> T | Replayed:
        if not tx.first_use(key, expires_at, now):
            return Replayed("duplicate", "this signed request was already received")
        return fn(tx)

    return unit


def pagerduty_event(event: dict[str, Any]) -> tuple[str, float]:
    """The ``id`` and ``occurred_at`` (epoch seconds, UTC) of a v3 webhook event.

    Raises ``BadEvent`` naming ``event.id`` or ``event.occurred_at`` when one is missing or malformed.
    """
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
        raise BadEvent("PagerDuty event without an id", "event.id")
    raw = event.get("occurred_at")
    try:
        if not isinstance(raw, str):
            raise ValueError
        at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise ValueError
        return event_id.strip(), at.timestamp()
    except (ValueError, OverflowError):
        raise BadEvent(f"occurred_at must be an RFC 3339 time, got {raw!r}", "event.occurred_at") from None


def pagerduty_once(event_id: str, occurred_at: float, incident_id: str, what: str, by: str, now: float,
                   fn: Callable[[Any], T]) -> Callable[[Any], T | Replayed]:
    """A unit of work that applies ``fn(tx)`` unless the event ``event_id`` was seen (``duplicate``) or
    ``occurred_at`` predates the incident's last opening (``stale``, recorded on its timeline)."""

    def unit(tx: Any) -> T | Replayed:
        if not tx.first_use("pagerduty:" + event_id, now + PAGERDUTY_EVENT_TTL, now):
            return Replayed("duplicate", f"PagerDuty event {event_id} was already received")
        inc = tx.get_incident(incident_id, for_update=True)
        if inc is not None:
            opened = max([inc.started_at, *(e.at for e in tx.timeline(inc.id) if e.kind == "incident.reopened")])
            if occurred_at < opened:
                reason = (f"PagerDuty {what} by {by} of {iso(occurred_at)} predates the incident's opening at "
                          f"{iso(opened)}: not applied")
                tx.add_event(inc.id, TimelineEvent(now, "pagerduty.stale", reason, {
                    "event_id": event_id, "event_type": what, "by": by, "occurred_at": iso(occurred_at),
                    "opened_at": iso(opened)}))
                return Replayed("stale", reason)
        return fn(tx)

    return unit
