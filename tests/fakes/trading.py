"""``FakeTradingSystem``: the trading system's admin API that the shipped playbooks call.

Any ``GET`` or ``POST`` under ``/admin/`` or ``/emergency/`` (e.g. ``POST
/admin/trading/emergency-stop``, ``/admin/circuit-breakers/enable-all``, ``/admin/data/stop-feeds``,
``/admin/orchestrate/halt``) is recorded and answered ``{"ok": true, "path": …}``. With a ``token``
configured, the request must carry ``Authorization: Bearer <token>`` or ``X-Admin-Token: <token>``
(else 401 ``{"ok": false, "error": "unauthorized"}``). Slow answers per path: ``delays[path] = s``.
``echo_auth = True`` makes it echo the request's ``Authorization`` header in its answer (``"auth"``),
as a careless server does (a secret that must not reach runbookd's store or logs). ``answers[path]``:
a JSON body answered instead, or a list of bodies answered one per call (the last one repeats).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import RECORD, FakeApp


class FakeTradingSystem(FakeApp):
    """Fake trading-system admin API; ``hits(path)`` counts accepted calls to a path."""

    def __init__(self, token: str | None = "trading-admin-token") -> None:
        self.token = token
        self.accepted: list[dict[str, Any]] = []
        self.echo_auth = False
        self.answers: dict[str, Any] = {}
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register ``GET``/``POST`` on ``/admin/{tail}`` and ``/emergency/{tail}``."""
        for prefix in ("/admin/", "/emergency/"):
            router.add_route("GET", prefix + "{tail:.*}", self._handle)
            router.add_route("POST", prefix + "{tail:.*}", self._handle)

    def reset_state(self) -> None:
        """Forget accepted calls."""
        self.accepted.clear()
        self.answers = {}

    def failure_body(self, status: int) -> Any:
        """The trading system's error shape."""
        return {"ok": False, "error": f"injected failure {status}"}

    def hits(self, path: str) -> int:
        """How many authorised calls reached ``path``."""
        return sum(1 for r in self.accepted if r["path"] == path)

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        return (
            request.headers.get("Authorization") == f"Bearer {self.token}"
            or request.headers.get("X-Admin-Token") == self.token
        )

    async def _handle(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        self.accepted.append(request[RECORD])
        if request.path in self.answers:
            answer = self.answers[request.path]
            if isinstance(answer, list):
                answer = answer.pop(0) if len(answer) > 1 else answer[0]
            return web.json_response(answer)
        if self.echo_auth:
            return web.json_response({"ok": True, "path": request.path, "auth": request.headers.get("Authorization")})
        return web.json_response({"ok": True, "path": request.path})
