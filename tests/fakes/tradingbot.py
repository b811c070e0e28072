"""``FakeTradingbot``: the admin API of "tradingbot" (shared seed 001), a Django bot with a circuit breaker.

Seed 001's emergency commands are Django shell snippets; the example (``examples/tradingbot``) drives
the same calls over the bot's REST API, authenticated like Django REST framework's TokenAuthentication
(``Authorization: Token <key>``, else 401 ``{"detail": "Authentication credentials were not provided."}``
or ``{"detail": "Invalid token."}``)::

    POST /api/circuit-breaker/trip     {"reason", "message"}  -> {"state": "tripped", …}
    GET  /api/circuit-breaker          -> {"state": "closed" | "tripped", …}
    POST /api/orders/cancel-all        -> {"cancelled": n, "open_after": 0}
    POST /api/reconciliation/run       -> {"clean": bool, "breaks": n, "break_value_usd": x}
    GET  /api/reconciliation/status    -> the last run
    POST /api/trading/mode             {"mode": "restricted" | "cautious" | "normal"}  (resume, by a person)
    GET  /api/trading/mode             -> {"mode": …}   (``modes`` lists every mode set, in order)

A write carrying an ``Idempotency-Key`` is executed once per key (see ``IdempotentFakeApp``: a repeat
answers the first answer with ``Idempotent-Replayed: true``; the key on another path is 422).
``executions(path)`` counts executions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import IdempotentFakeApp


class FakeTradingbot(IdempotentFakeApp):
    """Fake tradingbot REST API. State: ``breaker`` (``closed``/``tripped``), ``open_orders``,
    ``breaks`` (reconciliation breaks found by the next run), ``mode``; ``executed`` lists the writes
    that took effect (one per idempotency key)."""

    def __init__(self, token: str = "tradingbot-drf-token") -> None:
        self.breaker = "closed"
        self.trip_reason: str | None = None
        self.open_orders = 4
        self.breaks = 0
        self.mode = "normal"
        self.last_reconciliation: dict[str, Any] = {"clean": True, "breaks": 0, "break_value_usd": 0.0}
        self.modes: list[str] = []
        super().__init__(token)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the circuit breaker, orders, reconciliation and trading-mode routes."""
        router.add_post("/api/circuit-breaker/trip", self.writer(self._trip))
        router.add_get("/api/circuit-breaker", self.reader(self._breaker_state))
        router.add_post("/api/orders/cancel-all", self.writer(self._cancel_all))
        router.add_post("/api/reconciliation/run", self.writer(self._reconcile))
        router.add_get("/api/reconciliation/status", self.reader(lambda: self.last_reconciliation))
        router.add_post("/api/trading/mode", self.writer(self._set_mode))
        router.add_get("/api/trading/mode", self.reader(lambda: {"mode": self.mode}))

    def reset_state(self) -> None:
        """Breaker closed, four open orders, no breaks, normal mode; nothing executed."""
        super().reset_state()
        self.breaker, self.trip_reason, self.open_orders, self.breaks, self.mode = "closed", None, 4, 0, "normal"
        self.last_reconciliation = {"clean": True, "breaks": 0, "break_value_usd": 0.0}
        self.modes = []

    def error_body(self, message: str) -> Any:
        """Django REST framework's error shape."""
        return {"detail": message}

    # -- handlers --------------------------------------------------------------------------------

    def _breaker_state(self) -> dict[str, Any]:
        return {"state": self.breaker, "reason": self.trip_reason}

    def _trip(self, body: dict[str, Any]) -> dict[str, Any]:
        self.breaker, self.trip_reason, self.mode = "tripped", body.get("reason"), "halted"
        return {"state": "tripped", "reason": self.trip_reason, "message": body.get("message")}

    def _cancel_all(self, body: dict[str, Any]) -> dict[str, Any]:
        cancelled, self.open_orders = self.open_orders, 0
        return {"cancelled": cancelled, "open_after": 0}

    def _reconcile(self, body: dict[str, Any]) -> dict[str, Any]:
        self.last_reconciliation = {"clean": self.breaks == 0, "breaks": self.breaks,
                                    "break_value_usd": 1250.0 * self.breaks}
        return self.last_reconciliation

    def _set_mode(self, body: dict[str, Any]) -> dict[str, Any]:
        self.mode = str(body.get("mode"))
        self.modes.append(self.mode)
        return {"mode": self.mode}

    def denied(self, request: web.Request) -> web.Response | None:
        """401 as TokenAuthentication answers it, without ``Authorization: Token <token>``."""
        auth = request.headers.get("Authorization")
        if not auth:
            return web.json_response({"detail": "Authentication credentials were not provided."}, status=401)
        if auth != f"Token {self.token}":
            return web.json_response({"detail": "Invalid token."}, status=401)
        return None
