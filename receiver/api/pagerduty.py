"""``POST /webhook/pagerduty``: PagerDuty v3 webhooks keep PagerDuty and runbookd in step.

Follows PagerDuty's Webhooks v3 (https://developer.pagerduty.com/docs/webhooks/v3-overview/):
``X-PagerDuty-Signature`` carries one or more ``v1=<hex>`` HMAC-SHA256 signatures of the raw body
with the subscription's secret (several during secret rotation). Events ``incident.acknowledged``
and ``incident.resolved`` for incidents runbookd triggered (``incident_key`` ``runbookd-<id>``)
acknowledge or resolve the runbookd incident, so an ack in PagerDuty stops runbookd's paging;
other events and other incidents are answered 200 and ignored. Bad or missing signature: 401. With
``access:`` configured, the agent must be a person (``pagerduty_users``) of role ``responder`` or
above; otherwise the event is refused — recorded on the incident's timeline, answered 200
``{"status": "refused"}`` (PagerDuty must not retry it) — and nothing changes.
A replayed event (its ``id`` seen before) or one older than the incident's last opening is answered
200 and changes nothing (``receiver.api.replay``); one without ``id`` or ``occurred_at`` is 400.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from receiver.access.people import Directory
from receiver.access.roles import allows, needed_role
from receiver.api import replay
from receiver.api.auth import record_refusal
from receiver.edge import error_response, load_json, read_bounded
from receiver.incidents.lifecycle import acknowledge, resolve_manually
from receiver.store.base import Store

log = structlog.get_logger("runbookd.pagerduty")
MAX_BODY = 1024 * 1024
PREFIX = "runbookd-"
EVENTS = {"incident.acknowledged": acknowledge, "incident.resolved": resolve_manually}


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """Whether one of the ``v1=`` signatures in ``header`` is the HMAC-SHA256 of ``body`` with ``secret``.

    A malformed header (no ``v1=``, non-ASCII or undecodable bytes) is ``False``, never an exception.
    """
    if not header:
        return False
    want = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for part in header.split(","):
        version, _, sig = part.strip().partition("=")
        sig = sig.strip()
        # compare_digest raises TypeError on non-ASCII str: a signature that is not ASCII is not ours
        if version == "v1" and sig.isascii() and hmac.compare_digest(sig, want):
            return True
    return False


class PagerDutyWebhook:
    """Handler of PagerDuty v3 webhook deliveries; ``secret`` unset means every request is 401."""

    def __init__(self, store: Store, secret: str | None, clock: Any, rules: Callable[[], Any],
                 wake: Callable[[], None], directory: Directory | None = None) -> None:
        self.directory = directory or Directory(None)
        self.store = store
        self.secret = secret
        self.clock = clock
        self.rules = rules
        self.wake = wake

    async def handle(self, request: web.Request) -> web.Response:
        """Verify, then apply acknowledged / resolved events to runbookd's incident."""
        body = await read_bounded(request, MAX_BODY)
        if body is None:
            return error_response(413, "webhook body too large")
        if not self.secret or not signature_ok(body, request.headers.get("X-PagerDuty-Signature"), self.secret):
            return error_response(401, "invalid or missing X-PagerDuty-Signature")
        try:
            event = load_json(body)["event"]
            event_type = event["event_type"]
            data = event.get("data") or {}
            if not isinstance(event_type, str) or not isinstance(data, dict) or not isinstance(
                    event.get("agent") or {}, dict):
                raise TypeError("event_type must be a string, data and agent objects")
        except (KeyError, ValueError, TypeError, AttributeError):
            return error_response(400, "not a PagerDuty v3 webhook event", "event")
        fn = EVENTS.get(event_type)
        key = str(data.get("incident_key") or "")
        if fn is None or not key.startswith(PREFIX) or key.startswith(PREFIX + "deadman-"):
            return web.json_response({"status": "ignored"})
        agent = event.get("agent") or {}
        who = str(agent.get("summary") or agent.get("id") or "PagerDuty")
        try:
            event_id, occurred_at = replay.pagerduty_event(event)
        except replay.BadEvent as e:
            return error_response(400, str(e), e.field)
        now = self.clock.now()
        action = "ack" if event_type == "incident.acknowledged" else "resolve"
        actor = self.directory.pagerduty(str(agent.get("id") or ""), who)
        if actor is None or not allows(actor.role, action):
            name = actor.name if actor else f"{who} ({agent.get('id')})"
            reason = (f"{action} needs role {needed_role(action)}, {name} is {actor.role}" if actor
                      else f"{name} is not a known person of runbookd")
            await self.store.transaction(lambda tx: record_refusal(
                tx, name, action, reason, now, via="pagerduty", incident_id=key[len(PREFIX):]))
            return web.json_response({"status": "refused", "reason": reason})
        if not actor.legacy:
            who = actor.name
        rules = self.rules()
        iid = key[len(PREFIX):]
        change = await self.store.transaction(replay.pagerduty_once(
            event_id, occurred_at, iid, event_type, who, now,
            lambda tx: fn(tx, iid, by=who, via="pagerduty", now=now, rules=rules)))
        if isinstance(change, replay.Replayed):
            log.info("pagerduty webhook not applied", event_type=event_type, incident=key, reason=change.reason)
            return web.json_response({"status": change.status})
        if not change.ok:
            return error_response(change.status, change.reason, "event.data.incident_key")
        self.wake()
        log.info("pagerduty webhook", event_type=event_type, incident=key, by=who)
        return web.json_response({"status": "ok"})
