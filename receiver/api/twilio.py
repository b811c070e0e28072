"""``POST /twilio/voice``: the ``<Gather>`` callback of a runbookd page call; pressing 1 acknowledges.

Follows Twilio's webhook security (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
``X-Twilio-Signature`` is the base64 HMAC-SHA1, keyed with the account's auth token, of the public URL
Twilio requested (``external_url`` + the request's path and query, as the call's TwiML named it) followed
by the form parameters sorted by name; it is checked with the SDK's ``RequestValidator``. A missing or
bad signature, or no ``twilio.auth_token``, is 403 (logged, counted in
``runbookd_twilio_callbacks{outcome="bad_signature"}``) and changes nothing.

``Digits=1`` acknowledges the incident of the ``incident`` query parameter through
``incidents.lifecycle.acknowledge`` (``via="voice"``), as the person whose ``phone`` is the callee
(``To``, else ``Called``; ``Directory.phone``: an unknown number acts as ``phone:<number>``) and answers
``<Say>Acknowledged…</Say>``; any other key answers that nothing was acknowledged. A signed request is
used once (``receiver.api.replay``): a second copy answers TwiML and changes nothing. Answers are TwiML
(``application/xml``), so the caller hears what happened.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from receiver.access.people import Directory
from receiver.access.roles import allows, needed_role
from receiver.api import replay
from receiver.api.auth import record_refusal
from receiver.edge import error_response, read_bounded
from receiver.incidents.lifecycle import acknowledge
from receiver.metrics import Metrics
from receiver.store.base import Store

log = structlog.get_logger("runbookd.twilio")
MAX_BODY = 64 * 1024
#: Seconds a callback's signature is remembered (a call's callbacks come within minutes; a week is ample).
CALLBACK_TTL = 7 * 24 * 3600.0
ACK_DIGIT = "1"


def twiml(text: str) -> web.Response:
    """A TwiML answer that says ``text`` and hangs up."""
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return web.Response(text=str(response), content_type="application/xml")


class TwilioVoice:
    """Handler of the ``<Gather>`` callbacks of page calls; ``auth_token`` unset means every request is 403."""

    def __init__(self, store: Store, auth_token: str | None, external_url: str, clock: Any,
                 rules: Callable[[], Any], wake: Callable[[], None], metrics: Metrics,
                 directory: Directory | None = None, from_number: str | None = None) -> None:
        self.store = store
        self.validator = RequestValidator(auth_token) if auth_token else None
        self.external_url = external_url.rstrip("/")
        self.clock = clock
        self.rules = rules
        self.wake = wake
        self.metrics = metrics
        self.directory = directory or Directory(None)
        self.from_number = from_number

    def _count(self, outcome: str) -> None:
        self.metrics.twilio_callbacks.labels(outcome=outcome).inc()

    async def handle(self, request: web.Request) -> web.Response:
        """Verify the signature, then acknowledge on ``Digits=1`` (TwiML answers; 403 when not signed)."""
        body = await read_bounded(request, MAX_BODY)
        if body is None:
            return error_response(413, "callback body too large")
        try:
            params = MultiDict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return error_response(400, "callback body is not UTF-8", "body")
        url = self.external_url + request.raw_path
        signature = request.headers.get("X-Twilio-Signature", "")
        if self.validator is None or not signature.isascii() or not self.validator.validate(url, params, signature):
            self._count("bad_signature")
            log.warning("twilio callback refused: bad or missing X-Twilio-Signature", url=url,
                        remote=request.remote)
            return error_response(403, "invalid or missing X-Twilio-Signature")
        iid = request.query.get("incident", "")
        digits = params.get("Digits", "")
        callee = params.get("To") or params.get("Called") or ""
        if digits != ACK_DIGIT:
            self._count("not_acknowledged")
            log.info("twilio callback: not acknowledged", incident=iid, digits=digits[:8])
            return twiml("Not acknowledged. Press 1 to acknowledge. Goodbye.")
        if not iid or not callee or callee == self.from_number:
            self._count("refused")
            return twiml("This call is not about a runbookd incident. Goodbye.")
        actor = self.directory.phone(callee)
        now = self.clock.now()
        if not allows(actor.role, "ack"):
            reason = f"ack needs role {needed_role('ack')}, {actor.name} is {actor.role}"
            await self.store.transaction(lambda tx: record_refusal(tx, actor.name, "ack", reason, now, via="voice",
                                                                   incident_id=iid, call=params.get("CallSid")))
            self._count("refused")
            return twiml("You may not acknowledge this incident. Goodbye.")
        rules = self.rules()
        key = "twilio:" + hashlib.sha256(signature.encode() + b"\0" + url.encode()).hexdigest()
        change = await self.store.transaction(replay.once(
            key, now + CALLBACK_TTL, now,
            lambda tx: acknowledge(tx, iid, by=actor.name, via="voice", now=now, rules=rules)))
        if isinstance(change, replay.Replayed):
            self._count("duplicate")
            log.info("twilio callback not applied", incident=iid, reason=change.reason)
            return twiml("Already received. Goodbye.")
        if not change.ok:
            self._count("failed")
            log.info("twilio callback: cannot acknowledge", incident=iid, reason=change.reason)
            return twiml(f"Not acknowledged: {change.reason}. Goodbye.")
        self.wake()
        self._count("acknowledged")
        log.info("twilio callback: acknowledged", incident=iid, by=actor.name, row=request.query.get("key"))
        return twiml(f"{change.reason or 'Acknowledged'}. Goodbye.")
