"""``FakeApp``: the recording, failure-injecting base of every fake vendor API in ``tests/fakes``.

Each fake is a tiny aiohttp application driven by the *real* SDK clients over HTTP. The base class
records every request (except the ``/_…`` control endpoints) and can answer slowly or with injected
errors. Control endpoints, for tests that run a fake as a separate process:

- ``GET /_requests`` → JSON list of recorded requests (see ``FakeApp.requests``).
- ``POST /_reset`` → clears recordings, injected failures and delays, restores seeded state.
- ``POST /_fail`` with ``{"count": n, "status": 503, "path": "/v2/enqueue" | null, "body": …}``.
- ``POST /_delay`` with ``{"seconds": 2.5, "path": "/admin/x" | null}`` (``null``: every path).
- ``POST /_hang`` with ``{"path": … | null, "after": false}``: hold requests unanswered until
  ``POST /_release`` (``after``: apply the request first, then hold the answer: the vendor did it,
  the client never hears).

Fault modes for tests in-process (``tests/faults``): ``fail_next`` (a status, e.g. 429 with
``Retry-After``, 500, 503), ``fail_while`` (a status for as long as a condition holds, e.g. a fake
clock before some time), ``hang`` / ``release``, ``close_next`` (drop the connection without an
answer, before or after applying the request) and ``on_request`` (a hook called with each recorded
request, e.g. to move a fake clock while the "vendor" takes its time).

``IdempotentFakeApp`` adds what the seed systems' admin APIs share: a credential check on every call
and writes executed once per ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

Handler = Any
#: A write of an ``IdempotentFakeApp``: the request's JSON body in, its answer out (``200``) or
#: ``(status, answer)``.
Apply = Callable[[dict[str, Any]], "dict[str, Any] | tuple[int, dict[str, Any]]"]
#: Where the middleware leaves the recorded request for the vendor handler: ``request[RECORD]``.
RECORD = web.RequestKey("record", dict)


@dataclass
class Persistent:
    """A failure answered for as long as ``active()`` holds (to ``path``, or any)."""

    active: Callable[[], bool]
    failure: Failure


@dataclass
class Failure:
    """An injected failure: answer ``status`` with ``body`` (JSON) to a request to ``path`` (None: any)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None


class FakeApp:
    """Base of the fakes: ``app`` (``web.Application``), ``requests`` (recorded) and failure knobs.

    Each recorded request is a dict: ``method``, ``path``, ``query`` (dict), ``headers`` (dict),
    ``json`` (parsed JSON body or None), ``form`` (dict of a form-encoded body or None), ``body``
    (raw text), ``time`` (epoch seconds, UTC) and ``peer`` (the client's ``host:port``: one per
    connection); vendor handlers find it as ``request[RECORD]``.
    Subclasses add routes in ``add_routes`` and may override ``failure_body`` to shape injected
    errors like the vendor does.
    """

    def __init__(self) -> None:
        #: Base URL once served (set by ``running``), e.g. ``http://127.0.0.1:41234``.
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        #: Seconds to wait before answering any request (on top of ``delays``).
        self.delay = 0.0
        #: Seconds to wait before answering a request to a given path.
        self.delays: dict[str, float] = {}
        self._failures: deque[Failure] = deque()
        self._persistent: list[Persistent] = []
        #: Paths held unanswered (``None``: every path) → whether the request is applied first.
        self.hung: dict[str | None, bool] = {}
        self._release = asyncio.Event()
        #: Connections to drop without an answer: (path or None, whether to apply the request first).
        self._closes: deque[tuple[str | None, bool]] = deque()
        #: Called with each recorded request before it is answered.
        self.on_request: Callable[[dict[str, Any]], None] | None = None
        #: How many requests are being held by ``hang`` right now.
        self.holding = 0
        self.app = web.Application(middlewares=[self._make_middleware()])
        self.app.router.add_get("/_requests", self._get_requests)
        self.app.router.add_post("/_reset", self._post_reset)
        self.app.router.add_post("/_fail", self._post_fail)
        self.app.router.add_post("/_delay", self._post_delay)
        self.app.router.add_post("/_hang", self._post_hang)
        self.app.router.add_post("/_release", self._post_release)
        self.add_routes(self.app.router)

    # -- subclass hooks --------------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the vendor routes (subclasses)."""

    def reset_state(self) -> None:
        """Restore the seeded vendor state (subclasses)."""

    def failure_body(self, status: int) -> Any:
        """The JSON body of an injected failure with ``status`` when the test gave none."""
        return {"error": f"injected failure {status}"}

    # -- knobs for tests -------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        path: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` requests (to ``path``, or any) with ``status`` instead of the real answer."""
        for _ in range(n):
            self._failures.append(Failure(status, body, dict(headers or {}), path))

    def fail_while(self, active: Callable[[], bool], status: int = 503, *, path: str | None = None,
                   body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Answer ``status`` to every request (to ``path``, or any) for as long as ``active()`` is true."""
        self._persistent.append(Persistent(active, Failure(status, body, dict(headers or {}), path)))

    def hang(self, path: str | None = None, *, after: bool = False) -> None:
        """Hold requests to ``path`` (or every path) unanswered until ``release()``.

        ``after``: apply the request first (the vendor acted), then hold its answer.
        """
        self._release.clear()
        self.hung[path] = after

    def release(self) -> None:
        """Stop hanging: held requests are answered now, later ones at once."""
        self.hung.clear()
        self._release.set()

    def close_next(self, n: int = 1, *, path: str | None = None, after: bool = False) -> None:
        """Drop the connection of the next ``n`` requests (to ``path``, or any) without an answer.

        ``after``: apply the request first (the vendor acted), then drop the connection.
        """
        for _ in range(n):
            self._closes.append((path, after))

    def reset(self) -> None:
        """Forget recorded requests, injected failures and delays; restore the seeded state."""
        self.requests.clear()
        self._failures.clear()
        self._persistent.clear()
        self._closes.clear()
        self.release()
        self.delay = 0.0
        self.delays.clear()
        self.reset_state()

    def calls(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests, optionally only those to ``path`` and/or with ``method``."""
        return [
            r
            for r in self.requests
            if (path is None or r["path"] == path) and (method is None or r["method"] == method.upper())
        ]

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """How many requests were recorded (to ``path`` / with ``method`` when given)."""
        return len(self.calls(path, method))

    # -- machinery -------------------------------------------------------------------------------

    def _make_middleware(self) -> Handler:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith("/_"):
                return await handler(request)
            record = await _record(request)
            request[RECORD] = record
            self.requests.append(record)
            if self.on_request is not None:
                self.on_request(record)
            wait = self.delay + self.delays.get(request.path, 0.0)
            if wait > 0:
                await asyncio.sleep(wait)
            failure = self._take_failure(request.path)
            if failure is not None:
                body = failure.body if failure.body is not None else self.failure_body(failure.status)
                return web.json_response(body, status=failure.status, headers=failure.headers)
            close = self._take_close(request.path)
            hang = self.hung.get(request.path, self.hung.get(None)) if self.hung else None
            if hang is False:
                await self._hold()
            response = await handler(request) if close is None or close else None
            if close is not None:
                assert request.transport is not None
                request.transport.abort()  # no answer at all: the client sees the connection drop
                raise asyncio.CancelledError
            if hang:
                await self._hold()
            assert response is not None
            return response

        return middleware

    async def _hold(self) -> None:
        self.holding += 1
        try:
            await self._release.wait()
        finally:
            self.holding -= 1

    def _take_close(self, path: str) -> bool | None:
        """Whether to drop this request's connection after applying it (``None``: do not drop it)."""
        for c in self._closes:
            if c[0] is None or c[0] == path:
                self._closes.remove(c)
                return c[1]
        return None

    def _take_failure(self, path: str) -> Failure | None:
        for p in self._persistent:
            if (p.failure.path is None or p.failure.path == path) and p.active():
                return p.failure
        for f in self._failures:
            if f.path is None or f.path == path:
                self._failures.remove(f)
                return f
        return None

    async def _get_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests)

    async def _post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _post_fail(self, request: web.Request) -> web.Response:
        spec = await request.json()
        self.fail_next(
            int(spec.get("count", 1)),
            int(spec.get("status", 503)),
            path=spec.get("path"),
            body=spec.get("body"),
            headers=spec.get("headers"),
        )
        return web.json_response({"ok": True})

    async def _post_hang(self, request: web.Request) -> web.Response:
        spec = await request.json()
        self.hang(spec.get("path"), after=bool(spec.get("after", False)))
        return web.json_response({"ok": True})

    async def _post_release(self, request: web.Request) -> web.Response:
        self.release()
        return web.json_response({"ok": True})

    async def _post_delay(self, request: web.Request) -> web.Response:
        spec = await request.json()
        seconds = float(spec.get("seconds", 0.0))
        if spec.get("path"):
            self.delays[spec["path"]] = seconds
        else:
            self.delay = seconds
        return web.json_response({"ok": True})


class IdempotentFakeApp(FakeApp):
    """Base of the seed-system fakes: every call checked by ``denied``, writes executed once per key.

    ``reader(read)`` answers ``read()``; ``writer(apply)`` answers what ``apply`` makes of the JSON body.
    A write carrying an ``Idempotency-Key`` is executed once per key: a repeat answers the first answer
    (and status) again with ``Idempotent-Replayed: true``, and the key on another path is 422, as
    Stripe-style APIs do. ``executed`` lists the writes that took effect and ``executions(path)`` counts
    them, which is what "nothing ran twice" is measured by; ``requests`` still records every attempt.
    Subclasses check credentials in ``denied`` and shape error bodies in ``error_body``.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.executed: list[dict[str, Any]] = []
        self._answers: dict[str, tuple[str, int, dict[str, Any]]] = {}
        super().__init__()

    # -- subclass hooks --------------------------------------------------------------------------

    def denied(self, request: web.Request) -> web.Response | None:
        """The answer to a request without the right credentials; None lets it through."""
        return None

    def error_body(self, message: str) -> Any:
        """The JSON body of an error answer saying ``message``."""
        return {"error": message}

    def failure_body(self, status: int) -> Any:
        """An injected failure, shaped like the API's other errors."""
        return self.error_body(f"injected failure {status}")

    def reset_state(self) -> None:
        """Forget the executed writes and their answers (subclasses restore their state too)."""
        self.executed.clear()
        self._answers.clear()

    # -- for tests -------------------------------------------------------------------------------

    def executions(self, path: str) -> int:
        """How many requests to ``path`` took effect: once per ``Idempotency-Key``, each keyless one."""
        return sum(1 for r in self.executed if r["path"] == path)

    # -- handler factories -----------------------------------------------------------------------

    def reader(self, read: Callable[[], dict[str, Any]]) -> Handler:
        """A handler that answers ``read()`` to a request ``denied`` lets through."""

        async def handle(request: web.Request) -> web.Response:
            denied = self.denied(request)
            return denied if denied is not None else web.json_response(read())

        return handle

    def writer(self, apply: Apply) -> Handler:
        """A handler that executes ``apply`` once per ``Idempotency-Key`` for a request ``denied`` lets through."""

        async def handle(request: web.Request) -> web.Response:
            denied = self.denied(request)
            return denied if denied is not None else await self.once(request, apply)

        return handle

    async def once(self, request: web.Request, apply: Apply) -> web.Response:
        """Execute ``apply`` on the request's JSON body unless its ``Idempotency-Key`` was seen."""
        key = request.headers.get("Idempotency-Key")
        if key and key in self._answers:
            path, status, answer = self._answers[key]
            if path != request.path:
                return web.json_response(self.error_body("Idempotency-Key reused for another request"), status=422)
            return web.json_response(answer, status=status, headers={"Idempotent-Replayed": "true"})
        record = request[RECORD]
        result = apply(record.get("json") or {})
        status, answer = result if isinstance(result, tuple) else (200, result)
        self.executed.append(record)
        if key:
            self._answers[key] = (request.path, status, answer)
        return web.json_response(answer, status=status)


async def _record(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    text = raw.decode("utf-8", errors="replace")
    parsed_json: Any = None
    form: dict[str, str] | None = None
    if request.content_type == "application/json" and text:
        try:
            parsed_json = json.loads(text)
        except ValueError:
            parsed_json = None
    elif request.content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(text, keep_blank_values=True))
    return {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": dict(request.headers),
        "json": parsed_json,
        "form": form,
        "body": text,
        "time": time.time(),
        "peer": "{}:{}".format(*(request.transport.get_extra_info("peername") or ("?", 0))[:2])
        if request.transport is not None else "?",
    }


def body_params(record: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a recorded request whatever its encoding: JSON object, form, or query."""
    if isinstance(record.get("json"), dict):
        return dict(record["json"])
    if record.get("form") is not None:
        return dict(record["form"])
    return dict(record.get("query") or {})
