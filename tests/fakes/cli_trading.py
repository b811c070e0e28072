"""``FakeCliTrading``: the orchestrator admin API of "CLI-Trading" (shared seed 004), port 7001.

Seed 004's calls, each with the ``X-Admin-Token`` header (else 401 ``{"error": "unauthorized"}``)::

    POST /admin/orchestrate/halt     {"reason": "security_incident"}  -> {"halted": true, "haltReason": …}
                                     409 {"error": "already halted", …} when halted for another reason
    POST /admin/orchestrate/unhalt   -> {"halted": false}
    GET  /pnl/status                 -> {"halted", "haltReason", "pnl", "dailyTarget", "dailyLossLimit"}

Halting for the reason it is already halted for answers 200 again (halting is idempotent). A write
carrying an ``Idempotency-Key`` is executed once per key (a repeat answers the first answer with
``Idempotent-Replayed: true``; the key on another path is 422). ``executions(path)`` counts executions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.base import RECORD, FakeApp

Apply = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


class FakeCliTrading(FakeApp):
    """Fake orchestrator. State: ``halted``, ``halt_reason``, ``pnl``; ``executed`` lists the writes
    that took effect (one per idempotency key)."""

    def __init__(self, token: str = "cli-trading-admin-token") -> None:
        self.token = token
        self.executed: list[dict[str, Any]] = []
        self._answers: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.halted = False
        self.halt_reason: str | None = None
        self.pnl = 0.0
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register halt, unhalt and the PnL status."""
        router.add_post("/admin/orchestrate/halt", self._writer(self._halt))
        router.add_post("/admin/orchestrate/unhalt", self._writer(self._unhalt))
        router.add_get("/pnl/status", self._status)

    def reset_state(self) -> None:
        """Running, no halt, flat PnL; nothing executed."""
        self.executed.clear()
        self._answers.clear()
        self.halted, self.halt_reason, self.pnl = False, None, 0.0

    def halt_on_its_own(self, reason: str, pnl: float) -> None:
        """The orchestrator halts itself (e.g. ``daily_loss_limit`` at a PnL of -2500)."""
        self.halted, self.halt_reason, self.pnl = True, reason, pnl

    def executions(self, path: str) -> int:
        """How many requests to ``path`` took effect: once per ``Idempotency-Key``, each keyless one."""
        return sum(1 for r in self.executed if r["path"] == path)

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

    async def _status(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Admin-Token") != self.token:
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({"halted": self.halted, "haltReason": self.halt_reason, "pnl": self.pnl,
                                  "dailyTarget": 1500.0, "dailyLossLimit": -2000.0})

    def _writer(self, apply: Apply) -> Any:
        async def handle(request: web.Request) -> web.Response:
            if request.headers.get("X-Admin-Token") != self.token:
                return web.json_response({"error": "unauthorized"}, status=401)
            record = request[RECORD]
            key = request.headers.get("Idempotency-Key")
            if key and key in self._answers:
                path, status, answer = self._answers[key]
                if path != request.path:
                    return web.json_response({"error": "Idempotency-Key reused for another request"}, status=422)
                return web.json_response(answer, status=status, headers={"Idempotent-Replayed": "true"})
            status, answer = apply(record.get("json") or {})
            self.executed.append(record)
            if key:
                self._answers[key] = (request.path, status, answer)
            return web.json_response(answer, status=status)

        return handle
