"""Slack notifier: one page per incident per channel, thread replies for updates, edits in place.

API followed: Slack Web API ``chat.postMessage``, ``chat.update`` and ``conversations.history``
through slack-sdk's ``AsyncWebClient`` (https://api.slack.com/methods). Block formatting is in
``slack_blocks``.

Slack does not deduplicate posts, so a page carries its work row's key in message metadata
(https://api.slack.com/metadata, event type ``runbookd_page``); a page re-sent after an attempt whose
outcome is unknown (``Message.resend``) is first looked up in the channel's history by that key and
not posted again when found. Each call opens its own aiohttp session with the configured connect
and read time-outs.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, assert_never

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from receiver.errors import DeliveryError, classify_status, parse_retry_after
from receiver.notify import slack_approval as fmt_approval
from receiver.notify import slack_blocks as fmt
from receiver.notify.base import Delivery, Message
from receiver.notify.render import MessageRenderer
from receiver.rules.receivers import SlackTarget
from receiver.settings import Settings, SlackConfig

NOT_CONFIGURED = "slack integration not configured (SLACK_BOT_TOKEN unset)"
#: Slack error codes that mean "try again later" even when the HTTP status is 200.
RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
#: Metadata event type of a page; its payload's ``key`` is the work row's idempotency key.
PAGE_EVENT = "runbookd_page"
#: How many of the channel's latest messages a re-sent page looks through for itself.
HISTORY_LIMIT = 200
#: Slack's rate limit of ``chat.postMessage``: one message per second per channel
#: (https://api.slack.com/methods/chat.postMessage#rate_limiting), in seconds between two posts.
POST_INTERVAL = 1.0
#: Posts to a channel allowed at once before the limit holds the next back ("generous burst behavior").
POST_BURST = 3
#: Message kinds that post a message (``refresh``/``ack`` edit one: ``chat.update``, limited per workspace).
POSTING_KINDS = frozenset({"page", "update", "resolve", "approval"})


def split_ref(ref: str) -> tuple[str, str]:
    """Split a page reference ``"<channel id>:<ts>"`` into ``(channel, ts)``; ValueError if malformed."""
    channel, sep, ts = ref.partition(":")
    if not sep or not channel or not ts:
        raise ValueError(f"not a Slack message reference: {ref!r}")
    return channel, ts


class SlackNotifier:
    """Delivers incident messages to Slack channels with a bot token (``config.token``).

    ``send`` returns ``Delivery(ref="<channel id>:<ts>", data={"channel", "ts", …})``. When the
    integration is off (no token) it sends nothing and returns ``Delivery(None, {"skipped": why})``;
    the caller records that as skipped. ``timeout`` bounds each Web API call, in seconds. slack-sdk's
    own retry handlers are disabled: the escalation layer retries by ``DeliveryError.retryable``.
    With ``templates``, thread replies for updates and resolutions are the seed 004 formats rendered
    from ``update.txt.j2`` / ``resolved.txt.j2`` (escaped); without, the built-in short texts.
    """

    #: Follow-ups are thread replies; the page is edited in place; approvals and links are posted here.
    replies_in_thread = True
    edits_in_place = True
    chat = True
    syncs_ack = False

    def __init__(self, config: SlackConfig, *, timeout: float = 10.0, templates: MessageRenderer | None = None,
                 connect_timeout: float = 3.0) -> None:
        self._config = config
        self._timeout = timeout
        self._connect = min(connect_timeout, timeout)
        self._templates = templates
        self._client: AsyncWebClient | None = None
        if config.enabled:
            self._client = AsyncWebClient(
                token=config.token, base_url=config.api_url, timeout=math.ceil(timeout), retry_handlers=[]
            )

    @classmethod
    def from_settings(cls, settings: Settings, templates: MessageRenderer | None = None) -> SlackNotifier:
        """The Slack channel of ``runbookd.yml`` (``slack:``, time-outs of ``notify.slack``); off without a token."""
        t = settings.notify.slack
        return cls(settings.slack, templates=templates, timeout=t.read, connect_timeout=t.connect)

    def rate_limit(self, target: SlackTarget, message: Message) -> tuple[str, float, int] | None:
        """The rate limit ``message`` counts against: ``("slack.post:<channel>", POST_INTERVAL,
        POST_BURST)`` (key, seconds between posts, posts allowed at once) for a
        message that posts to ``target.channel`` (a page, a thread reply, a resolution, an approval
        request), ``None`` for an edit or when the integration is off (nothing is sent).

        The caller (``receiver.escalation.sender``) reserves the slot in the store and makes the row
        due at it: Slack allows one message per second per channel, with short bursts.
        """
        if self._client is None or message.kind not in POSTING_KINDS:
            return None
        return f"slack.post:{target.channel}", POST_INTERVAL, POST_BURST

    async def send(self, target: SlackTarget, message: Message) -> Delivery:
        """Deliver ``message`` to ``target.channel`` according to ``message.kind``.

        - ``page``: top-level ``chat.postMessage`` with the page blocks; ref = the page.
        - ``update``: a thread reply under ``message.ref`` (top-level without one); ref = the reply.
        - ``refresh`` / ``ack``: ``chat.update`` of the page ``message.ref``; ref = the page. Without
          a ref nothing is sent: ``Delivery(None, {"skipped": "no page to update"})``.
        - ``resolve``: ``chat.update`` of the page to its resolved state, then a thread reply
          ``✅ RESOLVED …``; ref = the reply (a top-level post when there is no page).

        Raises ``DeliveryError``: retryable for HTTP 429/5xx, Slack ``ratelimited`` and transport
        errors or timeouts; not retryable for other API errors (``channel_not_found``,
        ``invalid_auth``, …) or a malformed ``ref``.
        """
        if self._client is None:
            return Delivery(None, {"skipped": NOT_CONFIGURED})
        match message.kind:
            case "page":
                looked = await self._find_page(target, message) if message.resend and message.idempotency_key else None
                if isinstance(looked, Delivery):
                    return looked
                d = await self._post(target.channel, message, fmt.page_text(message), fmt.page_blocks(message))
                if looked is not None and looked != "not found":
                    d.data["unverified"] = f"could not check for an earlier post ({looked}): may be a duplicate"
                return d
            case "update":
                if message.status == "digest" and message.text:
                    return await self._post(target.channel, message, message.text)
                text = self._render("update.txt.j2", message) or fmt.update_text(message)
                return await self._reply(target, message, text)
            case "refresh" | "ack":
                if message.ref is None:
                    return Delivery(None, {"skipped": "no page to update"})
                return await self._update(message)
            case "resolve":
                if message.ref is not None:
                    await self._update(message)
                text = self._render("resolved.txt.j2", message) or fmt.resolved_text(message)
                return await self._reply(target, message, text)
            case "approval":
                thread = fmt_approval.approval_text(message)
                blocks = fmt_approval.approval_blocks(message)
                ts = self._split(message.ref)[1] if message.ref else None
                return await self._post(target.channel, message, thread, blocks, thread_ts=ts)
            case _:
                assert_never(message.kind)

    async def _post(
        self,
        channel: str,
        message: Message,
        text: str,
        blocks: list[Any] | None = None,
        thread_ts: str | None = None,
    ) -> Delivery:
        kwargs: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            kwargs["blocks"] = blocks
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
        if message.kind == "page" and message.idempotency_key and thread_ts is None:
            kwargs["metadata"] = {"event_type": PAGE_EVENT, "event_payload": {"key": message.idempotency_key}}
        resp = await self._call("chat.postMessage", "chat_postMessage", kwargs)
        data: dict[str, Any] = {"channel": resp["channel"], "ts": resp["ts"]}
        if thread_ts is not None:
            data["thread_ts"] = thread_ts
        if message.dry_run:
            data["dry_run"] = True
        return Delivery(f"{resp['channel']}:{resp['ts']}", data)

    async def _reply(self, target: SlackTarget, message: Message, text: str) -> Delivery:
        if message.ref is None:
            return await self._post(target.channel, message, text)
        channel, ts = self._split(message.ref)
        return await self._post(channel, message, text, thread_ts=ts)

    async def _update(self, message: Message) -> Delivery:
        assert message.ref is not None
        channel, ts = self._split(message.ref)
        kwargs = {
            "channel": channel,
            "ts": ts,
            "text": fmt.page_text(message),
            "blocks": fmt.page_blocks(message),
        }
        await self._call("chat.update", "chat_update", kwargs)
        return Delivery(message.ref, {"channel": channel, "ts": ts, "updated": True})

    def _render(self, name: str, message: Message) -> str | None:
        """The template's text as escaped mrkdwn, or ``None`` (no templates, or it failed: use the built-in text)."""
        if self._templates is None:
            return None
        try:
            rendered = self._templates.render_message(name, message)
        except Exception:  # a broken template must not stop the reply; the built-in text goes instead
            return None
        return fmt.template_text(rendered) or None

    @staticmethod
    def _split(ref: str) -> tuple[str, str]:
        try:
            return split_ref(ref)
        except ValueError as e:
            raise DeliveryError(str(e), retryable=False) from e

    def _api(self) -> AsyncWebClient:
        assert self._client is not None
        return self._client

    async def _find_page(self, target: SlackTarget, message: Message) -> Delivery | str:
        """The page already posted for ``message.idempotency_key`` (by its metadata), or why not found.

        Looks through the latest ``HISTORY_LIMIT`` top-level messages of the channel; returns
        ``"not found"`` when it is not there. When the channel cannot be read (``channel_not_found``
        for a ``#name``: the API wants a channel id; a missing ``channels:history`` scope) it
        returns that reason and the page is posted again: a possible duplicate is better than a lost
        page. Raises ``DeliveryError`` when the lookup itself failed retryably.
        """
        kwargs: dict[str, Any] = {"channel": target.channel, "limit": HISTORY_LIMIT, "include_all_metadata": True}
        try:
            resp = await self._call("conversations.history", "conversations_history", kwargs)
        except DeliveryError as e:
            if e.retryable:
                raise
            return e.reason
        key = message.idempotency_key
        for m in resp.get("messages") or []:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == PAGE_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                channel = str(resp.get("channel") or m.get("channel") or target.channel)
                return Delivery(f"{channel}:{m['ts']}", {"channel": channel, "ts": m["ts"], "found": True})
        return "not found"

    async def _call(self, method: str, fn: str, kwargs: dict[str, Any]) -> Any:
        """Call one Web API method (``fn``: the ``AsyncWebClient`` method name) in its own session.

        Translates slack-sdk and aiohttp errors into ``DeliveryError``: a time-out or a dropped
        connection is retryable with ``unknown`` set (Slack may have applied the call); a 429 carries
        its ``Retry-After``.
        """
        api = self._api()
        timeout = aiohttp.ClientTimeout(total=self._timeout, connect=self._connect, sock_connect=self._connect)
        try:
            async with asyncio.timeout(self._timeout), aiohttp.ClientSession(timeout=timeout) as session:
                client = AsyncWebClient(token=api.token, base_url=api.base_url, timeout=api.timeout,
                                        retry_handlers=[], session=session)
                return await getattr(client, fn)(**kwargs)
        except SlackApiError as e:
            raise _api_error(method, e) from e
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as e:
            raise DeliveryError(f"slack {method}: {type(e).__name__}: {e}".rstrip(": "), retryable=True) from e
        except (TimeoutError, aiohttp.ClientError) as e:
            raise DeliveryError(f"slack {method}: {type(e).__name__}: {e}".rstrip(": "), retryable=True,
                                unknown=True) from e
        except SlackClientError as e:
            raise DeliveryError(f"slack {method}: {e}", retryable=False) from e


def _api_error(method: str, e: SlackApiError) -> DeliveryError:
    """Classify a Slack API error by HTTP status and Slack error code."""
    resp = e.response
    status = getattr(resp, "status_code", None) or getattr(resp, "status", None)
    data = getattr(resp, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    retryable = code in RETRYABLE_ERRORS or (isinstance(status, int) and classify_status(status))
    reason = f"slack {method}: {code or 'error'} (HTTP {status})"
    headers = getattr(resp, "headers", None) or {}
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if retry_after is not None:
        reason += f"; retry after {retry_after:g}s"
    return DeliveryError(reason, retryable=retryable, retry_after=retry_after)


def _header(headers: Any, name: str) -> str | None:
    """A header's value whatever the case of its name (slack-sdk keeps aiohttp's headers as a dict)."""
    for k, v in dict(headers).items():
        if str(k).lower() == name.lower():
            return str(v[0] if isinstance(v, list) else v)
    return None
