"""``FakeOmniAlpha``: the admin API of "Omni Alpha 5.0" (shared seed 000) that its emergency shutdown calls.

Seed 000's ``emergency_shutdown.sh``::

    POST /admin/trading/emergency-stop      Authorization: Bearer ${EMERGENCY_TOKEN}
                                            {"reason": "emergency_shutdown", "initiated_by": "incident_response"}
    POST /admin/circuit-breakers/enable-all
    POST /admin/data/stop-feeds

plus ``POST /admin/security/revoke-api-keys`` (``{"scope": "all"}`` -> ``{"ok", "revoked": n}``; the
security-breach playbook), ``POST /admin/trading/resume`` (the planned-maintenance runbook) and
``GET /v1/trading/status``.
Every ``/admin`` call needs ``Authorization: Bearer <token>`` (else 401 ``{"error": "unauthorized"}``).
A write carrying an ``Idempotency-Key`` header is executed once per key (see ``IdempotentFakeApp``): a
repeat answers the first answer again with ``Idempotent-Replayed: true`` (the same key on another path
is 422), as Stripe-style APIs do. ``executions(path)`` counts executions, which is what "nothing ran
twice" is measured by; ``requests`` (the base class) still records every attempt.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import IdempotentFakeApp


class FakeOmniAlpha(IdempotentFakeApp):
    """Fake Omni Alpha admin API. State: ``trading`` (``running``/``stopped``), ``breakers_enabled``,
    ``feeds_running``, ``api_keys`` (emptied by a revoke); ``executed`` lists the requests that took
    effect (one per idempotency key)."""

    def __init__(self, token: str = "omni-alpha-emergency-token") -> None:
        self.trading = "running"
        self.breakers_enabled = False
        self.feeds_running = True
        self.api_keys = ["key-trader-1", "key-trader-2", "key-readonly"]
        super().__init__(token)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the emergency-shutdown, resume and status routes."""
        router.add_post("/admin/trading/emergency-stop", self.writer(self._stop))
        router.add_post("/admin/circuit-breakers/enable-all", self.writer(self._breakers))
        router.add_post("/admin/data/stop-feeds", self.writer(self._feeds))
        router.add_post("/admin/trading/resume", self.writer(self._resume))
        router.add_post("/admin/security/revoke-api-keys", self.writer(self._revoke))
        router.add_get("/v1/trading/status", self._status)

    def reset_state(self) -> None:
        """Trading running, breakers off, feeds on; nothing executed."""
        super().reset_state()
        self.trading = "running"
        self.breakers_enabled = False
        self.feeds_running = True
        self.api_keys = ["key-trader-1", "key-trader-2", "key-readonly"]

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

    def _revoke(self, body: dict[str, Any]) -> dict[str, Any]:
        revoked, self.api_keys = len(self.api_keys), []
        return {"ok": True, "revoked": revoked, "scope": body.get("scope")}

    def _resume(self, body: dict[str, Any]) -> dict[str, Any]:
        self.trading = "running"
        return {"ok": True, "trading": {"status": "running"}}

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response({"status": self.trading, "circuit_breakers_enabled": self.breakers_enabled,
                                  "feeds_running": self.feeds_running})

    def denied(self, request: web.Request) -> web.Response | None:
        """401 ``{"error": "unauthorized"}`` without ``Authorization: Bearer <token>`` (``/admin`` writes)."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(self.error_body("unauthorized"), status=401)
        return None
