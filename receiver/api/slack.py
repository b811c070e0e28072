"""``POST /slack/interactions``: the Acknowledge and Resolve buttons of a Slack page.

Follows Slack's interactivity protocol (https://api.slack.com/interactivity/handling): a
form-encoded ``payload`` of type ``block_actions``, signed with the app's signing secret
(``X-Slack-Signature`` over ``v0:<timestamp>:<body>``, verified by slack-sdk's
``SignatureVerifier`` with our clock; timestamps older than 5 minutes are refused). Buttons:
``incident_ack`` / ``incident_resolve`` (value: incident id) and ``step_approve`` / ``step_reject``
(value: ``<incident id>|<step index>``; only the step's approvers may answer). ``POST /slack/commands``
takes the ``/runbookd`` slash command (``receiver.api.slack_commands``; same signature check). Each
click and command is checked against the clicker's role (docs/access.md). A bad signature or stale
timestamp is 401 and changes nothing; an unknown incident is 404. A request whose signature was
already used (a replay within the 5-minute window) is answered 200 and changes nothing
(``receiver.api.replay``). The page is then edited in place (``chat.update``) by the ``ack`` /
``resolve`` rows the change enqueues.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import structlog
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from receiver.access.people import Directory
from receiver.api import replay
from receiver.api.slack_commands import SlackAccess
from receiver.edge import clean_text, error_response, load_json, read_bounded
from receiver.incidents.lifecycle import acknowledge, resolve_manually
from receiver.playbooks import approvals
from receiver.store.base import Store

log = structlog.get_logger("runbookd.slack")
MAX_BODY = 256 * 1024
ACTIONS = {"incident_ack": acknowledge, "incident_resolve": resolve_manually}
# Epoch seconds as Slack sends them, and ``v0=`` with a hex HMAC-SHA256: anything else is refused unread.
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"v0=[0-9a-fA-F]{1,128}", re.ASCII)
_INDEX = re.compile(r"[0-9]{1,6}", re.ASCII)
#: The role action (``receiver.access.roles``) of each button.
NEEDS = {"incident_ack": "ack", "incident_resolve": "resolve", "step_approve": "approve", "step_reject": "reject"}


class SlackInteractions:
    """Handler of Slack interaction payloads; ``signing_secret`` unset means every request is 401."""

    def __init__(self, store: Store, signing_secret: str | None, clock: Any, rules: Callable[[], Any],
                 wake: Callable[[], None], directory: Directory | None = None) -> None:
        self.store = store
        self.access = SlackAccess(store, directory or Directory(None), clock, rules, wake)
        self.clock = clock
        self.rules = rules
        self.wake = wake
        self.verifier = SignatureVerifier(signing_secret, clock=clock) if signing_secret else None

    def _verified(self, body: bytes, headers: Any) -> bool:
        """Whether the request carries Slack's signature of ``body``; shapes that slack-sdk would raise
        on (a timestamp that is not ASCII digits or is huge, a non-ASCII signature) are simply ``False``.
        The body must be UTF-8 (``_check_body`` answers 400 before)."""
        if self.verifier is None:
            return False
        ts = headers.get("X-Slack-Request-Timestamp")
        sig = headers.get("X-Slack-Signature")
        if ts is None or sig is None or not _TIMESTAMP.fullmatch(ts) or not _SIGNATURE.fullmatch(sig):
            return False
        return self.verifier.is_valid(body, ts, sig)

    @staticmethod
    def _check_body(body: bytes) -> web.Response | None:
        """400 when the body is not UTF-8: Slack signs UTF-8 text, and slack-sdk decodes it to verify."""
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return error_response(400, "body is not UTF-8", "body")
        return None

    @staticmethod
    def _replay_key(headers: Any, now: float) -> tuple[str, float]:
        """The replay-guard key and expiry of a verified request (``receiver.api.replay``)."""
        return (replay.slack_key(headers.get("X-Slack-Signature", "")),
                replay.slack_expiry(headers.get("X-Slack-Request-Timestamp", ""), now))

    async def handle(self, request: web.Request) -> web.Response:
        """Verify, then apply the button's action to its incident."""
        body = await read_bounded(request, MAX_BODY)
        if body is None:
            return error_response(413, "interaction payload too large")
        if (bad := self._check_body(body)) is not None:
            return bad
        if not self._verified(body, request.headers):
            return error_response(401, "invalid Slack signature or stale timestamp")
        try:
            payload = load_json(parse_qs(body.decode("utf-8"))["payload"][0])
            action = payload["actions"][0]
            action_id, incident_id = action["action_id"], action["value"]
            user = payload.get("user") or {}
            if not isinstance(action_id, str) or not isinstance(user, dict):
                raise TypeError("action_id must be a string, user an object")
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            return error_response(400, "not a Slack block_actions payload", "payload")
        who = str(user.get("username") or user.get("name") or user.get("id") or "someone on Slack")
        ids = tuple(str(x) for x in (user.get("id"), user.get("username"), user.get("name")) if x)
        if user.get("id"):
            who = f"{who} ({user['id']})" if who != user["id"] else who
        if action_id in NEEDS:
            iid = str(incident_id).partition("|")[0]
            actor, refusal = await self.access.check(str(user.get("id") or ""), who, NEEDS[action_id], incident_id=iid,
                                                     response_url=payload.get("response_url"))
            if refusal or actor is None:
                return web.Response(status=200)  # refused and recorded; the clicker was told
            if not actor.legacy:
                who, ids = actor.name, (*actor.ids, *ids)
        now = self.clock.now()
        rules = self.rules()
        key, expires = self._replay_key(request.headers, now)
        if action_id in ("step_approve", "step_reject"):
            iid, _, index = str(incident_id).partition("|")
            decision = "approve" if action_id == "step_approve" else "reject"
            step: str | int = int(index) if _INDEX.fullmatch(index) else index
            change = await self.store.transaction(replay.once(key, expires, now, lambda tx: approvals.answer(
                tx, iid, step=step, decision=decision, by=who, via="slack", now=now, user_ids=ids)))
        else:
            fn = ACTIONS.get(action_id)
            if fn is None:
                return error_response(400, f"unknown action {action_id!r}", "actions[0].action_id")
            change = await self.store.transaction(replay.once(
                key, expires, now, lambda tx: fn(tx, str(incident_id), by=who, via="slack", now=now, rules=rules)))
        if isinstance(change, replay.Replayed):
            log.info("slack interaction not applied", action=action_id, incident=incident_id, reason=change.reason)
            return web.Response(status=200)
        if not change.ok:
            return error_response(change.status, change.reason, "actions[0].value")
        self.wake()
        log.info("slack interaction", action=action_id, incident=incident_id, by=who)
        return web.Response(status=200)

    async def command(self, request: web.Request) -> web.Response:
        """``POST /slack/commands``: the ``/runbookd`` slash command (``SlackAccess.command``)."""
        body = await read_bounded(request, MAX_BODY)
        if body is None:
            return error_response(413, "command payload too large")
        if (bad := self._check_body(body)) is not None:
            return bad
        if not self._verified(body, request.headers):
            return error_response(401, "invalid Slack signature or stale timestamp")
        form = {k: clean_text(v[0]) for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        now = self.clock.now()
        key, expires = self._replay_key(request.headers, now)
        if not await self.store.transaction(lambda tx: tx.first_use(key, expires, now)):
            return web.json_response({"response_type": "ephemeral", "text": "This command was already received."})
        return await self.access.command(form)
