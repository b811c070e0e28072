"""``FakeFxPipeline``: the FX signal pipeline's trading API (:8080) and risk manager (:8084) of seed 002.

One app serves both services' routes (point both base URLs at it)::

    :8080  POST /emergency/stop-trading          {"reason", "operator"}
           GET  /api/trading-status              -> {"trading_enabled": bool, …}
           POST /emergency/close-all-positions   {"reason", "operator"}
           POST /emergency/set-stop-losses       {"percentage", "operator"}
           GET  /api/positions                   -> open positions
    :8084  POST /emergency/reduce-position-sizes {"reduction_factor", "reason"}
           POST /emergency/tighten-limits        {"factor", "duration_minutes"}
           POST /emergency/stop-new-positions    {"reason"}
    :8081  GET  /api/data-freshness              -> {"feed", "age_seconds", "backup_available"}
           POST /api/data-feed/switch            {"feed": "primary" | "backup"} (fresh prices
                                                 ``backup_age`` seconds old after the switch)

The runbook's curl calls carry no credentials; this fake stands for the services behind the proxy the
example asks for, which checks ``Authorization: Bearer <token>`` (else 401 ``{"error": "unauthorized"}``).
A write carrying an ``Idempotency-Key`` is executed once per key (see ``IdempotentFakeApp``: a repeat
answers the first answer with ``Idempotent-Replayed: true``; the key on another path is 422).
``executions(path)`` counts executions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import IdempotentFakeApp


def _seed_positions() -> list[dict[str, Any]]:
    return [{"symbol": "EURUSD", "quantity": 100_000, "entry_price": 1.0850, "stop_loss": None},
            {"symbol": "GBPUSD", "quantity": -50_000, "entry_price": 1.2700, "stop_loss": None}]


class FakeFxPipeline(IdempotentFakeApp):
    """Fake FX pipeline. State: ``trading_enabled``, ``new_positions_allowed``, ``positions``,
    ``size_factor``, ``limit_factor``; ``executed`` lists the writes that took effect."""

    def __init__(self, token: str = "fx-pipeline-token") -> None:
        self.trading_enabled = True
        self.new_positions_allowed = True
        self.positions = _seed_positions()
        self.size_factor = 1.0
        self.limit_factor = 1.0
        self.feed, self.age_seconds, self.backup_available, self.backup_age = "primary", 95.0, True, 2.0
        super().__init__(token)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the :8080 trading API and :8084 risk manager routes."""
        router.add_post("/emergency/stop-trading", self.writer(self._stop))
        router.add_get("/api/trading-status", self.reader(self._status))
        router.add_post("/emergency/close-all-positions", self.writer(self._close_all))
        router.add_post("/emergency/set-stop-losses", self.writer(self._stop_losses))
        router.add_get("/api/positions", self.reader(lambda: {"positions": self.positions}))
        router.add_post("/emergency/reduce-position-sizes", self.writer(self._reduce))
        router.add_post("/emergency/tighten-limits", self.writer(self._tighten))
        router.add_post("/emergency/stop-new-positions", self.writer(self._stop_new))
        router.add_get("/api/data-freshness", self.reader(self._freshness))
        router.add_post("/api/data-feed/switch", self.writer(self._switch_feed))

    def reset_state(self) -> None:
        """Trading on, two open positions, no emergency controls; nothing executed."""
        super().reset_state()
        self.trading_enabled = self.new_positions_allowed = True
        self.positions = _seed_positions()
        self.size_factor = self.limit_factor = 1.0
        self.feed, self.age_seconds, self.backup_available, self.backup_age = "primary", 95.0, True, 2.0

    # -- handlers --------------------------------------------------------------------------------

    def _freshness(self) -> dict[str, Any]:
        return {"feed": self.feed, "age_seconds": self.age_seconds, "backup_available": self.backup_available}

    def _switch_feed(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        feed = str(body.get("feed"))
        if feed == "backup" and not self.backup_available:
            return 409, {"error": "no backup feed configured"}
        self.feed = feed
        self.age_seconds = self.backup_age if feed == "backup" else self.age_seconds
        return 200, {"feed": self.feed}

    def _status(self) -> dict[str, Any]:
        return {"trading_enabled": self.trading_enabled, "new_positions_allowed": self.new_positions_allowed,
                "open_positions": len(self.positions)}

    def _stop(self, body: dict[str, Any]) -> dict[str, Any]:
        self.trading_enabled = False
        return {"trading_enabled": False, "reason": body.get("reason")}

    def _close_all(self, body: dict[str, Any]) -> dict[str, Any]:
        closed, self.positions = [p["symbol"] for p in self.positions], []
        return {"closed": closed}

    def _stop_losses(self, body: dict[str, Any]) -> dict[str, Any]:
        pct = float(body.get("percentage", 0))
        for p in self.positions:
            sign = -1 if p["quantity"] > 0 else 1
            p["stop_loss"] = round(p["entry_price"] * (1 + sign * pct / 100), 5)
        return {"updated": [p["symbol"] for p in self.positions], "percentage": pct}

    def _reduce(self, body: dict[str, Any]) -> dict[str, Any]:
        self.size_factor = float(body.get("reduction_factor", 1.0))
        return {"reduction_factor": self.size_factor}

    def _tighten(self, body: dict[str, Any]) -> dict[str, Any]:
        self.limit_factor = float(body.get("factor", 1.0))
        return {"factor": self.limit_factor, "duration_minutes": body.get("duration_minutes")}

    def _stop_new(self, body: dict[str, Any]) -> dict[str, Any]:
        self.new_positions_allowed = False
        return {"new_positions_allowed": False, "reason": body.get("reason")}

    def denied(self, request: web.Request) -> web.Response | None:
        """401 ``{"error": "unauthorized"}`` without ``Authorization: Bearer <token>``."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(self.error_body("unauthorized"), status=401)
        return None
