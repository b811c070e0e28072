"""An in-process runbookd served on a real TCP port from a thread of its own, for the fuzz tests.

Hypothesis drives synchronous tests; the app runs on its own event loop in a thread, so each case
is a real HTTP exchange over loopback and nothing of runbookd is replaced.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from receiver.app import Components, build_app, build_components
from receiver.clock import FakeClock


class ThreadServer:
    """``build_app`` of ``settings`` on 127.0.0.1:<free port>, its dispatcher run on demand (``drain``)."""

    def __init__(self, settings: Any, clock: FakeClock) -> None:
        self.settings = settings
        self.clock = clock
        self.host = "127.0.0.1"
        self.port = 0
        self.c: Components | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="fuzz-server", daemon=True)

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # noqa: BLE001 — reported to the test thread
            self._error = e
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.c = build_components(self.settings, clock=self.clock)
        runner = web.AppRunner(build_app(self.c, run_dispatcher=False))
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def call(self, fn: Callable[[], Awaitable[Any]], timeout: float = 120.0) -> Any:
        """Run ``fn()`` on the server's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout)

    def drain(self) -> int:
        """Process every pending alert and due work row (the dispatcher, run until nothing is left)."""
        assert self.c is not None and self.c.dispatcher is not None
        dispatcher = self.c.dispatcher
        total = 0
        for _ in range(1000):
            n = self.call(dispatcher.run_once)
            total += n
            if not n:
                break
        return total
