"""``FakeOmniAlpha``: the admin API of "Omni Alpha 5.0" (shared seed 000) that its emergency shutdown calls.

Seed 000's ``emergency_shutdown.sh``::

    POST /admin/trading/emergency-stop      Authorization: Bearer ${EMERGENCY_TOKEN}
                                            {"reason": "emergency_shutdown", "initiated_by": "incident_response"}
    POST /admin/circuit-breakers/enable-all
    POST /admin/data/stop-feeds

plus ``POST /admin/trading/resume`` (the planned-maintenance runbook) and ``GET /v1/trading/status``.
Every ``/admin`` call needs ``Authorization: Bearer <token>`` (else 401 ``{"error": "unauthorized"}``).
A write carrying an ``Idempotency-Key`` header is executed once per key: a repeat answers the first
answer again with ``Idempotent-Replayed: true`` (the same key on another path is 422), as Stripe-style
APIs do. ``executions(path)`` counts executions, which is what "nothing ran twice" is measured by;
``requests`` (the base class) still records every attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.base import RECORD, FakeApp

Apply = Callable[[dict[str, Any]], dict[str, Any]]


class FakeOmniAlpha(FakeApp):
    """Fake Omni Alpha admin API. State: ``trading`` (``running``/``stopped``), ``breakers_enabled``,
    ``feeds_running``; ``executed`` lists the requests that took effect (one per idempotency key)."""

    def __init__(self, token: str = "omni-alpha-emergency-token") -> None:
        self.token = token
        self.executed: list[dict[str, Any]] = []
        self._answers: dict[str, tuple[str, dict[str, Any]]] = {}
        self.trading = "running"
        self.breakers_enabled = False
        self.feeds_running = True
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the emergency-shutdown, resume and status routes."""
        router.add_post("/admin/trading/emergency-stop", self._writer(self._stop))
        router.add_post("/admin/circuit-breakers/enable-all", self._writer(self._breakers))
        router.add_post("/admin/data/stop-feeds", self._writer(self._feeds))
        router.add_post("/admin/trading/resume", self._writer(self._resume))
        router.add_get("/v1/trading/status", self._status)

    def reset_state(self) -> None:
        """Trading running, breakers off, feeds on; nothing executed."""
        self.executed.clear()
        self._answers.clear()
        self.trading = "running"
        self.breakers_enabled = False
        self.feeds_running = True

    def failure_body(self, status: int) -> Any:
        """The admin API's error shape."""
        return {"error": f"injected failure {status}"}

    def executions(self, path: str) -> int:
        """How many requests to ``path`` took effect: once per ``Idempotency-Key``, each keyless one."""
        return sum(1 for r in self.executed if r["path"] == path)

    # -- handlers --------------------------------------------------------------------------------

    def _stop(self, body: dict[str, Any]) -> dict[str, Any]:
        self.trading = "stopped"
        return {"ok": True, "trading": {"status": "stopped", "reason": body.get("reason"),
                                        "initiated_by": body.get("initiated_by")}}

    def _breakers(self, body: dict[str, Any]) -> dict[str, Any]:
        self.breakers_enabled = True
        return {"ok": True, "circuit_breakers": {"state": "open", "enabled": ["execution", "risk", "data"]}}

    def _feeds(self, body: dict[str, Any]) -> dict[str, Any]:
        self.feeds_running = False
        return {"ok": True, "feeds": {"status": "stopped"}}

    def _resume(self, body: dict[str, Any]) -> dict[str, Any]:
        self.trading = "running"
        return {"ok": True, "trading": {"status": "running"}}

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response({"status": self.trading, "circuit_breakers_enabled": self.breakers_enabled,
                                  "feeds_running": self.feeds_running})

    def _writer(self, apply: Apply) -> Any:
        async def handle(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return web.json_response({"error": "unauthorized"}, status=401)
            record = request[RECORD]
            key = request.headers.get("Idempotency-Key")
            if key and key in self._answers:
                path, answer = self._answers[key]
                if path != request.path:
                    return web.json_response({"error": "Idempotency-Key reused for another request"}, status=422)
                return web.json_response(answer, headers={"Idempotent-Replayed": "true"})
            answer = apply(record.get("json") or {})
            self.executed.append(record)
            if key:
                self._answers[key] = (request.path, answer)
            return web.json_response(answer)

        return handle
