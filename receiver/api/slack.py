"""``POST /slack/interactions``: the Acknowledge and Resolve buttons of a Slack page.

Follows Slack's interactivity protocol (https://api.slack.com/interactivity/handling): a
form-encoded ``payload`` of type ``block_actions``, signed with the app's signing secret
(``X-Slack-Signature`` over ``v0:<timestamp>:<body>``, verified by slack-sdk's
``SignatureVerifier`` with our clock; timestamps older than 5 minutes are refused). A bad
signature or stale timestamp is 401 and changes nothing; an unknown incident is 404. The page is
then edited in place (``chat.update``) by the ``ack`` / ``resolve`` rows the change enqueues.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import structlog
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from receiver.incidents.lifecycle import acknowledge, resolve_manually
from receiver.ingest.handler import error_response
from receiver.store.base import Store

log = structlog.get_logger("runbookd.slack")
MAX_BODY = 256 * 1024
ACTIONS = {"incident_ack": acknowledge, "incident_resolve": resolve_manually}


class SlackInteractions:
    """Handler of Slack interaction payloads; ``signing_secret`` unset means every request is 401."""

    def __init__(self, store: Store, signing_secret: str | None, clock: Any, rules: Callable[[], Any],
                 wake: Callable[[], None]) -> None:
        self.store = store
        self.clock = clock
        self.rules = rules
        self.wake = wake
        self.verifier = SignatureVerifier(signing_secret, clock=clock) if signing_secret else None

    def _verified(self, body: bytes, headers: Any) -> bool:
        if self.verifier is None:
            return False
        ts = headers.get("X-Slack-Request-Timestamp")
        if ts is None or not ts.strip().lstrip("-").isdigit():
            return False
        return self.verifier.is_valid(body, ts, headers.get("X-Slack-Signature"))

    async def handle(self, request: web.Request) -> web.Response:
        """Verify, then apply the button's action to its incident."""
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return error_response(413, "interaction payload too large")
        if not self._verified(body, request.headers):
            return error_response(401, "invalid Slack signature or stale timestamp")
        try:
            payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
            action = payload["actions"][0]
            action_id, incident_id = action["action_id"], action["value"]
            user = payload.get("user") or {}
        except (KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError):
            return error_response(400, "not a Slack block_actions payload", "payload")
        fn = ACTIONS.get(action_id)
        if fn is None:
            return error_response(400, f"unknown action {action_id!r}", "actions[0].action_id")
        who = str(user.get("username") or user.get("name") or user.get("id") or "someone on Slack")
        if user.get("id"):
            who = f"{who} ({user['id']})" if who != user["id"] else who
        now = self.clock.now()
        rules = self.rules()
        change = await self.store.transaction(
            lambda tx: fn(tx, str(incident_id), by=who, via="slack", now=now, rules=rules))
        if not change.ok:
            return error_response(change.status, change.reason, "actions[0].value")
        self.wake()
        log.info("slack interaction", action=action_id, incident=incident_id, by=who)
        return web.Response(status=200)
