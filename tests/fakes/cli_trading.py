"""``FakeCliTrading``: the orchestrator admin API of "CLI-Trading" (shared seed 004), port 7001.

Seed 004's calls, each with the ``X-Admin-Token`` header (else 401 ``{"error": "unauthorized"}``)::

    POST /admin/orchestrate/halt     {"reason": "security_incident"}  -> {"halted": true, "haltReason": …}
                                     409 {"error": "already halted", …} when halted for another reason
    POST /admin/orchestrate/unhalt   -> {"halted": false}
    GET  /pnl/status                 -> {"halted", "haltReason", "pnl", "dailyTarget", "dailyLossLimit"}

Halting for the reason it is already halted for answers 200 again (halting is idempotent). A write
carrying an ``Idempotency-Key`` is executed once per key (see ``IdempotentFakeApp``: a repeat answers the
first answer and status with ``Idempotent-Replayed: true``; the key on another path is 422).
``executions(path)`` counts executions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import IdempotentFakeApp


class FakeCliTrading(IdempotentFakeApp):
    """Fake orchestrator. State: ``halted``, ``halt_reason``, ``pnl``; ``executed`` lists the writes
    that took effect (one per idempotency key)."""

    def __init__(self, token: str = "cli-trading-admin-token") -> None:
        self.halted = False
        self.halt_reason: str | None = None
        self.pnl = 0.0
        super().__init__(token)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register halt, unhalt and the PnL status."""
        router.add_post("/admin/orchestrate/halt", self.writer(self._halt))
        router.add_post("/admin/orchestrate/unhalt", self.writer(self._unhalt))
        router.add_get("/pnl/status", self.reader(self._status))

    def reset_state(self) -> None:
        """Running, no halt, flat PnL; nothing executed."""
        super().reset_state()
        self.halted, self.halt_reason, self.pnl = False, None, 0.0

    def halt_on_its_own(self, reason: str, pnl: float) -> None:
        """The orchestrator halts itself (e.g. ``daily_loss_limit`` at a PnL of -2500)."""
        self.halted, self.halt_reason, self.pnl = True, reason, pnl

    # -- handlers --------------------------------------------------------------------------------

    def _halt(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        reason = str(body.get("reason") or "manual")
        if self.halted and self.halt_reason != reason:
            return 409, {"error": "already halted", "halted": True, "haltReason": self.halt_reason}
        self.halted, self.halt_reason = True, reason
        return 200, {"halted": True, "haltReason": reason}

    def _unhalt(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.halted, self.halt_reason = False, None
        return 200, {"halted": False}

    def _status(self) -> dict[str, Any]:
        return {"halted": self.halted, "haltReason": self.halt_reason, "pnl": self.pnl,
                "dailyTarget": 1500.0, "dailyLossLimit": -2000.0}

    def denied(self, request: web.Request) -> web.Response | None:
        """401 ``{"error": "unauthorized"}`` without the ``X-Admin-Token`` header."""
        if request.headers.get("X-Admin-Token") != self.token:
            return web.json_response(self.error_body("unauthorized"), status=401)
        return None
