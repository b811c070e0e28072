"""Fake vendor APIs (Slack, PagerDuty, Alpaca, the trading system) as tiny aiohttp apps.

Tests drive the real SDK clients against them over HTTP (no mocks). Use ``FakeServer`` from async
fixtures::

    async with FakeServer(FakeSlack(token="xoxb-1").app) as url:
        ...  # url like "http://127.0.0.1:41234"

    async with running(FakeSlack()) as slack:   # the same, with slack.url set
        ...

or run them all as a process: ``python -m tests.fakes.run --port-file PATH`` (see ``run.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TypeVar

from aiohttp import web

from tests.fakes.base import Failure, FakeApp, body_params

__all__ = ["FakeApp", "FakeServer", "Failure", "body_params", "running", "serve"]

F = TypeVar("F", bound=FakeApp)


async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Start ``app`` on ``host:port`` (0: a free port) and return ``(runner, base_url)``.

    ``base_url`` has no trailing slash, e.g. ``http://127.0.0.1:41234``. Handlers are cancelled when
    their client goes away (so a slow-answer fake does not hold up shutdown); call
    ``await runner.cleanup()`` to stop.
    """
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses
    bound_port = addresses[0][1]
    return runner, f"http://{host}:{bound_port}"


class FakeServer:
    """An async context manager that serves one ``web.Application``: ``async with FakeServer(app) as url``.

    ``url`` (also the ``url`` attribute) is the base URL without a trailing slash.
    """

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Start serving; return the base URL."""
        self._runner, self.url = await serve(self.app, self.host, self.port)
        return self.url

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


@asynccontextmanager
async def running(fake: F) -> AsyncIterator[F]:
    """Serve ``fake`` for the duration of the block; ``fake.url`` holds its base URL meanwhile."""
    async with FakeServer(fake.app) as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.url = ""
