"""Twilio notifiers: an SMS (Messages API) and a voice call (Calls API, inline TwiML) per page.

APIs followed: https://www.twilio.com/docs/messaging/api/message-resource (``POST
/2010-04-01/Accounts/{sid}/Messages.json``) and https://www.twilio.com/docs/voice/api/call-resource
(``POST …/Calls.json`` with ``Twiml``), through the official ``twilio`` package's ``Client``, which is
synchronous (requests): each call runs in a thread of the notifier's own pool under
``asyncio.timeout``, as PagerDuty's does.

One message per incident per person: only a ``page`` texts or calls; every later message of the
incident (updates, notices, refreshes, approvals, acks, resolutions) is folded, recorded as skipped.
Because the channels declare ``replies_in_thread``, a later escalation step on a receiver already
paged is such a follow-up, so it is folded too. A call reads a short text inside ``<Gather
numDigits="1">`` whose ``action`` is ``<external_url>/twilio/voice?incident=<id>&key=<row key>``;
pressing 1 acknowledges (``receiver.api.twilio``). The TwiML builder escapes XML; alert-derived text
is also stripped of control characters and cut short.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Self, TypeVar
from urllib.parse import urlencode

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse
from urllib3.exceptions import NameResolutionError, NewConnectionError

from receiver.errors import DeliveryError, classify_status, parse_retry_after
from receiver.notify.base import Delivery, Message
from receiver.notify.render import MessageRenderer
from receiver.rules.receivers import PhoneTarget
from receiver.settings import Settings, TwilioConfig

NOT_CONFIGURED = "twilio integration not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN or TWILIO_FROM_NUMBER unset)"
#: The REST API's host the SDK addresses; ``twilio.api_url`` replaces it.
TWILIO_API = "https://api.twilio.com"
#: The path of the ``<Gather>`` callback (``receiver.api.twilio``).
VOICE_PATH = "/twilio/voice"
FOLDED_SMS = "folded: one SMS per incident per person"
FOLDED_CALL = "folded: one call per incident per person"
#: At most one SMS per 30 s per number, after a burst of 3 (several incidents at once): a phone that
#: buzzes every second tells nobody more, and Twilio queues long-code SMS at about one a second.
SMS_INTERVAL = 30.0
SMS_BURST = 3
#: At most one call per 60 s per number, after a burst of 2: a call takes that long to answer.
CALL_INTERVAL = 60.0
CALL_BURST = 2
#: Cuts of the alert-derived text: an SMS stays within two segments, a spoken text within ~30 s.
SMS_MAX = 320
SMS_FOOTER = "Reply not needed; call acknowledges with 1."
SAY_MAX = 400
#: Seconds the callee has to press a key after the text was read.
GATHER_TIMEOUT = 10
_SPACE = re.compile(r"\s+")
T = TypeVar("T")


def clean(text: str, limit: int) -> str:
    """``text`` without control or format characters (XML 1.0 refuses most), whitespace collapsed, cut to
    ``limit`` characters (``…`` marks a cut)."""
    kept = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    out = _SPACE.sub(" ", kept).strip()
    return out if len(out) <= limit else out[: limit - 1].rstrip() + "…"


def sms_body(message: Message) -> str:
    """The SMS of a page: ``[P0] <title>: <summary>``, the console link, and how to acknowledge.

    ``[DRY-RUN] `` first in dry-run. The alert text is cut so the whole stays within ``SMS_MAX``.
    """
    link = "\n" + message.incident_url if message.incident_url else ""
    tail = link + "\n" + SMS_FOOTER
    head = f"[{message.severity}] {message.title}" + (f": {message.summary}" if message.summary else "")
    if message.dry_run:
        head = "[DRY-RUN] " + head
    return clean(head, max(40, SMS_MAX - len(tail))) + tail


def spoken_text(message: Message) -> str:
    """What a call reads: a greeting (by name when resolved from a schedule), the severity, title and
    summary, and "press 1 to acknowledge"; cleaned and cut to ``SAY_MAX``."""
    hello = f"Hello {message.recipient}. " if message.recipient else ""
    what = f"runbookd {'dry run ' if message.dry_run else ''}alert, severity {message.severity}: {message.title}."
    if message.summary:
        what += f" {message.summary}."
    return clean(hello + what, SAY_MAX - 40) + " Press 1 to acknowledge."


def call_twiml(message: Message, external_url: str) -> str:
    """The TwiML of a page's call: ``<Gather numDigits="1" action=…>`` around a ``<Say>`` of
    ``spoken_text``, then a ``<Say>`` goodbye when no key was pressed."""
    query = urlencode({"incident": message.incident_id, "key": message.idempotency_key or ""})
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=f"{external_url.rstrip('/')}{VOICE_PATH}?{query}",
                             method="POST", timeout=GATHER_TIMEOUT)
    gather.say(spoken_text(message))
    response.say("No key pressed. Goodbye.")
    return str(response)


def never_sent(e: BaseException) -> bool:
    """Whether a requests error happened before the request left: a connect time-out or a connection
    that could not be made (refused, no route, DNS), seen through urllib3's ``MaxRetryError``."""
    if isinstance(e, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(e, requests.exceptions.ConnectionError):
        return False
    cause: Any = e.args[0] if e.args else None
    cause = getattr(cause, "reason", cause)
    return isinstance(cause, NewConnectionError | NameResolutionError)


class ApiHttpClient(TwilioHttpClient):  # type: ignore[misc]  # the twilio package ships no type hints
    """``TwilioHttpClient`` sent to ``base_url`` instead of ``https://api.twilio.com``, with
    ``(connect, read)`` time-outs and no retries, keeping its last response (``last``) for the
    ``Retry-After`` that ``TwilioRestException`` does not carry."""

    def __init__(self, base_url: str, *, connect: float, read: float) -> None:
        super().__init__(pool_connections=False)
        self.base_url = base_url.rstrip("/")
        # declared float; requests takes a (connect, read) pair
        self.timeout = (connect, read)
        self.last: Response | None = None

    def request(self, method: str, url: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        """Send the SDK's request to ``base_url``; ``timeout`` is ignored (the pair set at construction)."""
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        self.last = None
        self.last = super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                                    allow_redirects=allow_redirects)
        return self.last


class _TwilioNotifier:
    """What the SMS and voice notifiers share: credentials, the thread pool, error classification."""

    #: Later messages of the incident are follow-ups, which a phone folds (one message per person).
    replies_in_thread = True
    edits_in_place = False
    chat = False
    syncs_ack = False
    what = "twilio"

    def __init__(self, config: TwilioConfig, *, external_url: str = "http://127.0.0.1:9096", timeout: float = 10.0,
                 connect_timeout: float = 3.0, threads: int = 4) -> None:
        self._config = config
        self._external_url = external_url
        self._timeout = timeout
        self._connect = min(connect_timeout, timeout)
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix=f"runbookd-{self.what}")

    @classmethod
    def from_settings(cls, settings: Settings, templates: MessageRenderer | None = None) -> Self:
        """The channel of ``runbookd.yml`` (``twilio:``, ``notify.twilio`` time-outs, ``notify.concurrency``
        threads of its kind); off (every message skipped) while ``twilio.enabled`` is false."""
        t = settings.notify.twilio
        return cls(settings.twilio, external_url=settings.external_url, timeout=t.read, connect_timeout=t.connect,
                   threads=settings.notify.concurrency.get(cls.what, 4))

    def _limit(self, key: str, target: PhoneTarget, message: Message, interval: float,
               burst: int) -> tuple[str, float, int] | None:
        if not self._config.enabled or message.kind != "page" or not target.to:
            return None
        return f"{key}:{','.join(sorted(target.to))}", interval, burst

    def _numbers(self, target: PhoneTarget) -> list[str]:
        if not target.to:
            raise DeliveryError(f"{self.what}: no phone number to send to (schedule {target.schedule!r} was not "
                                "resolved to a person with a phone)", retryable=False)
        return list(target.to)

    async def _each(self, numbers: list[str], create: Callable[[Client, str], str]) -> list[str]:
        """``create(client, number)`` for each number in turn, in the pool; the SIDs. Raises ``DeliveryError``
        (saying how many numbers were reached already, if any)."""
        sids: list[str] = []
        for number in numbers:
            try:
                sids.append(await self._call(partial(self._run, create, number)))
            except DeliveryError as e:
                if not sids:
                    raise
                raise DeliveryError(f"{e.reason} (after {len(sids)} of {len(numbers)} numbers were reached)",
                                    retryable=e.retryable, retry_after=e.retry_after, unknown=e.unknown) from e
        return sids

    def _run(self, create: Callable[[Client, str], str], number: str) -> str:
        """``create`` with a client of its own (in a pool thread), errors as ``DeliveryError``."""
        http = ApiHttpClient(self._config.api_url, connect=self._connect, read=self._timeout)
        # environment: not os.environ, whose TWILIO_EDGE / TWILIO_REGION would move the host api_url names
        client = Client(self._config.account_sid, self._config.auth_token, http_client=http,
                        environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""})
        try:
            return create(client, number)
        except TwilioRestException as e:
            headers = http.last.headers if http.last is not None and http.last.headers is not None else {}
            retry_after = parse_retry_after(headers.get("Retry-After")) if e.status in (429, 503) else None
            code = f" (Twilio error {e.code})" if e.code else ""
            raise DeliveryError(f"{self.what}: HTTP {e.status}{code}: {str(e.msg)[:300]}",
                                retryable=classify_status(e.status), retry_after=retry_after) from e
        except (requests.exceptions.RequestException, TwilioException) as e:
            # a connection never made sent nothing; one dropped, timed out or garbled after sending may have
            raise DeliveryError(f"{self.what}: {str(e)[:200]}", retryable=True, unknown=not never_sent(e)) from e

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):  # not wait_for: it can swallow a cancellation (gh-86296)
                return await asyncio.get_running_loop().run_in_executor(self._pool, fn)
        except TimeoutError as e:
            raise DeliveryError(f"{self.what}: no answer within {self._timeout:g}s", retryable=True,
                                unknown=True) from e


class SmsNotifier(_TwilioNotifier):
    """Texts a page to each number of a ``PhoneTarget`` (``from_number`` → ``to``) through Twilio.

    ``send`` returns ``Delivery(ref=<first message SID>, data={"sids", "to"})``; with the integration
    off, ``Delivery(None, {"skipped": NOT_CONFIGURED})``. Only pages are sent (see the module).
    """

    what = "sms"

    def rate_limit(self, target: PhoneTarget, message: Message) -> tuple[str, float, int] | None:
        """``("twilio.sms:<numbers>", SMS_INTERVAL, SMS_BURST)`` for a page (``<numbers>``: the target's
        numbers, sorted, comma-separated); ``None`` for what is folded or when the integration is off.

        The sender reserves the slot in the store and makes the row due at it (``Sender._rate_limited``).
        """
        return self._limit("twilio.sms", target, message, SMS_INTERVAL, SMS_BURST)

    async def send(self, target: PhoneTarget, message: Message) -> Delivery:
        """Text ``sms_body(message)`` to each of ``target.to`` for a ``page``; fold every other kind.

        Raises ``DeliveryError``: not retryable when ``target.to`` is empty (a schedule nobody with a
        phone is on) or for a 4xx (a bad number, an unverified recipient); retryable for 5xx, 429 (with
        its ``Retry-After``), time-outs and transport errors (``unknown`` when the request may have
        reached Twilio: an SMS re-sent then may arrive twice).
        """
        if not self._config.enabled:
            return Delivery(None, {"skipped": NOT_CONFIGURED})
        if message.kind != "page":
            return Delivery(None, {"skipped": FOLDED_SMS})
        numbers = self._numbers(target)
        body = sms_body(message)
        sender = self._config.from_number

        def create(client: Client, number: str) -> str:
            return str(client.messages.create(to=number, from_=sender, body=body).sid)

        sids = await self._each(numbers, create)
        return Delivery(sids[0], {"sids": sids, "to": numbers})


class VoiceNotifier(_TwilioNotifier):
    """Calls each number of a ``PhoneTarget`` for a page and reads it out; pressing 1 acknowledges.

    ``send`` returns ``Delivery(ref=<first call SID>, data={"sids", "to"})``; with the integration off,
    ``Delivery(None, {"skipped": NOT_CONFIGURED})``. Only pages place a call (see the module).
    """

    what = "voice"

    def rate_limit(self, target: PhoneTarget, message: Message) -> tuple[str, float, int] | None:
        """``("twilio.voice:<numbers>", CALL_INTERVAL, CALL_BURST)`` for a page, else ``None`` (as SMS)."""
        return self._limit("twilio.voice", target, message, CALL_INTERVAL, CALL_BURST)

    async def send(self, target: PhoneTarget, message: Message) -> Delivery:
        """Call each of ``target.to`` with ``call_twiml(message)`` for a ``page``; fold every other kind.

        Raises ``DeliveryError`` as ``SmsNotifier.send`` does.
        """
        if not self._config.enabled:
            return Delivery(None, {"skipped": NOT_CONFIGURED})
        if message.kind != "page":
            return Delivery(None, {"skipped": FOLDED_CALL})
        numbers = self._numbers(target)
        twiml = call_twiml(message, self._external_url)
        sender = self._config.from_number

        def create(client: Client, number: str) -> str:
            return str(client.calls.create(to=number, from_=sender, twiml=twiml).sid)

        sids = await self._each(numbers, create)
        return Delivery(sids[0], {"sids": sids, "to": numbers})
