"""``FakeSlack``: the few Slack Web API methods runbookd calls, answering like Slack does.

Follows https://api.slack.com/web: ``POST /api/<method>`` with a JSON or form-encoded body and
``Authorization: Bearer <token>``; answers HTTP 200 with ``{"ok": true, …}`` or
``{"ok": false, "error": "<code>"}``. Injected 429s answer ``{"ok": false, "error": "ratelimited"}``
with ``Retry-After``, as Slack does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from tests.fakes.base import RECORD, FakeApp, body_params


def channel_id(name: str) -> str:
    """The stable fake channel id of a channel name (``#critical`` → ``C…``); ids map to themselves."""
    if name.startswith(("C", "G", "D")) and name.isalnum() and name.isupper():
        return name
    digest = hashlib.sha1(name.lstrip("#").encode()).hexdigest()[:10].upper()
    return f"C{digest}"


class FakeSlack(FakeApp):
    """Fake Slack Web API: ``chat.postMessage``, ``chat.update``, ``conversations.history``, ``auth.test``,
    ``files.upload``, ``usergroups.users.list``, and interaction ``response_url``s (``POST /response/<key>``).

    A message posted with ``metadata`` keeps it; ``conversations.history`` lists a channel's
    top-level messages newest first (``oldest``, ``limit``), with their ``metadata`` only when
    ``include_all_metadata`` is true, as Slack does. A ``#name`` channel is accepted there too
    (real Slack wants the id; ``history_needs_id`` makes the fake answer ``channel_not_found``).

    ``messages`` maps ``(channel_id, ts)`` to the current message (``text``, ``blocks``,
    ``thread_ts``, ``channel``, ``ts``), so tests see edits in place. ``unknown_channels`` lists
    channel names answered with ``channel_not_found``. ``ts`` values increase from
    ``1700000000.000100``.
    """

    def __init__(self, token: str = "xoxb-test-token") -> None:
        self.token = token
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.unknown_channels: set[str] = set()
        #: ``usergroups.users.list``: members by user-group ID (unknown groups: ``no_such_subteam``).
        self.usergroups: dict[str, list[str]] = {}
        #: Bodies POSTed to interaction ``response_url``s (``{url}/response/<anything>``), oldest first.
        self.responses: list[dict[str, Any]] = []
        self._seq = 0
        self.history_needs_id = False
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register ``POST /api/{method}`` (and ``GET``), and ``POST /response/{key}``."""
        router.add_post("/api/{method}", self._api)
        router.add_get("/api/{method}", self._api)  # slack-sdk sends some reads (usergroups.users.list) as GET
        router.add_post("/response/{key}", self._response)

    def reset_state(self) -> None:
        """Forget posted messages and unknown channels."""
        self.messages.clear()
        self.unknown_channels.clear()
        self.responses.clear()
        self._seq = 0

    def failure_body(self, status: int) -> Any:
        """Slack's error shape: ``ratelimited`` for 429, ``internal_error`` otherwise."""
        return {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}

    def fail_next(self, n: int = 1, status: int = 503, **kw: Any) -> None:
        """As ``FakeApp.fail_next``; a 429 carries ``Retry-After: 1`` unless headers are given."""
        if status == 429 and not kw.get("headers"):
            kw["headers"] = {"Retry-After": "1"}
        super().fail_next(n, status, **kw)

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """The ``chat.postMessage`` parameters received (to ``channel`` name or id when given)."""
        out = [body_params(r) for r in self.calls("/api/chat.postMessage")]
        if channel is not None:
            out = [p for p in out if channel_id(str(p.get("channel", ""))) == channel_id(channel)]
        return [_decoded(p) for p in out]

    def updates(self) -> list[dict[str, Any]]:
        """The ``chat.update`` parameters received."""
        return [_decoded(body_params(r)) for r in self.calls("/api/chat.update")]

    async def _api(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        record = request[RECORD]
        params = _decoded(dict(record["query"]) if request.method == "GET" else body_params(record))
        method = request.match_info["method"]
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://fake.slack.com/",
                    "team": "Fake",
                    "user": "runbookd",
                    "team_id": "T0FAKE",
                    "user_id": "U0RUNBOOKD",
                    "bot_id": "B0RUNBOOKD",
                }
            )
        if method == "chat.postMessage":
            return self._post_message(params)
        if method == "chat.update":
            return self._update(params)
        if method == "conversations.history":
            return self._history(params)
        if method == "usergroups.users.list":
            group = str(params.get("usergroup") or request.query.get("usergroup") or "")
            if group not in self.usergroups:
                return web.json_response({"ok": False, "error": "no_such_subteam"})
            return web.json_response({"ok": True, "users": self.usergroups[group]})
        if method == "files.upload":
            return web.json_response({"ok": True, "file": {"id": f"F{self._next_seq():08d}"}})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)

    async def _response(self, request: web.Request) -> web.Response:
        """A ``response_url``: Slack answers ``ok`` (text/plain) to a valid message."""
        self.responses.append(json.loads(await request.read()))
        return web.Response(text="ok")

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _ts(self) -> str:
        return f"1700000000.{100 + self._next_seq():06d}"

    def _post_message(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel") or "")
        if not channel:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if channel in self.unknown_channels:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if not params.get("text") and not params.get("blocks"):
            return web.json_response({"ok": False, "error": "no_text"})
        cid = channel_id(channel)
        thread_ts = params.get("thread_ts")
        if thread_ts and (cid, str(thread_ts)) not in self.messages:
            return web.json_response({"ok": False, "error": "thread_not_found"})
        ts = self._ts()
        msg = {
            "channel": cid,
            "ts": ts,
            "text": params.get("text", ""),
            "blocks": params.get("blocks"),
            "thread_ts": thread_ts,
        }
        meta = params.get("metadata")
        if isinstance(meta, str):
            meta = json.loads(meta)
        if meta:
            msg["metadata"] = meta
        self.messages[(cid, ts)] = msg
        return web.json_response({"ok": True, "channel": cid, "ts": ts, "message": msg})

    def _update(self, params: dict[str, Any]) -> web.Response:
        key = (channel_id(str(params.get("channel") or "")), str(params.get("ts") or ""))
        if key not in self.messages:
            return web.json_response({"ok": False, "error": "message_not_found"})
        msg = self.messages[key]
        msg.update(text=params.get("text", msg["text"]), blocks=params.get("blocks", msg["blocks"]))
        return web.json_response({"ok": True, "channel": key[0], "ts": key[1], "text": msg["text"], "message": msg})


    def _history(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel") or "")
        if not channel or (self.history_needs_id and channel.startswith("#")) or channel in self.unknown_channels:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        cid = channel_id(channel)
        oldest = float(params.get("oldest") or 0)
        limit = int(params.get("limit") or 100)
        with_meta = str(params.get("include_all_metadata", "")).lower() in ("true", "1")
        msgs = sorted((m for (c, _), m in self.messages.items()
                       if c == cid and not m.get("thread_ts") and float(m["ts"]) >= oldest),
                      key=lambda m: float(m["ts"]), reverse=True)
        out = []
        for m in msgs[:limit]:
            item = {"type": "message", "ts": m["ts"], "text": m["text"]}
            if with_meta and m.get("metadata"):
                item["metadata"] = m["metadata"]
            out.append(item)
        return web.json_response({"ok": True, "messages": out, "has_more": len(msgs) > limit})


def _decoded(params: dict[str, Any]) -> dict[str, Any]:
    """Form-encoded ``blocks``/``attachments`` arrive as JSON strings; decode them."""
    out = dict(params)
    for key in ("blocks", "attachments"):
        if isinstance(out.get(key), str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                pass
    return out
