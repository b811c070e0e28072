"""``FakeAlpaca``: the part of Alpaca's Trading API v2 that runbookd reads and writes.

Follows https://docs.alpaca.markets/reference: ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``
headers (else 401 ``{"code": 40110000, "message": "request is not authorized"}``); ``DELETE
/v2/orders`` and ``DELETE /v2/positions`` answer 207 with one ``{"id"|"symbol", "status", "body"}``
per item. ``GET`` / ``DELETE /v2/positions/{symbol}`` answer 404 ``{"code": 40410000, "message":
"position does not exist"}`` for a symbol with no position, as the real API does; the ``DELETE``
takes ``qty`` or ``percentage`` (partial close; more than held is 403). Seeded with three open
orders and a long SPY position.
"""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeApp

_T0 = "2026-01-05T14:30:00Z"


def _order(symbol: str, side: str, qty: str, limit: str | None, status: str = "new") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "client_order_id": str(uuid.uuid4()),
        "symbol": symbol,
        "asset_class": "us_equity",
        "side": side,
        "qty": qty,
        "filled_qty": "0",
        "type": "limit" if limit else "market",
        "limit_price": limit,
        "time_in_force": "day",
        "status": status,
        "created_at": _T0,
        "submitted_at": _T0,
        "updated_at": _T0,
    }


def _position(symbol: str, qty: str, price: str) -> dict[str, Any]:
    return {
        "asset_id": str(uuid.uuid4()),
        "symbol": symbol,
        "exchange": "ARCA",
        "asset_class": "us_equity",
        "qty": qty,
        "qty_available": qty,
        "side": "long" if not qty.startswith("-") else "short",
        "avg_entry_price": price,
        "current_price": price,
        "market_value": str(float(qty) * float(price)),
    }


def _seed_orders() -> list[dict[str, Any]]:
    return [
        _order("SPY", "buy", "10", "470.00"),
        _order("AAPL", "sell", "5", "190.00"),
        _order("QQQ", "buy", "3", None, status="accepted"),
    ]


def _seed_positions() -> list[dict[str, Any]]:
    return [_position("SPY", "100", "471.25")]


class FakeAlpaca(FakeApp):
    """Fake Alpaca Trading API. ``orders`` / ``positions`` hold the account state tests can inspect.

    Knobs: ``market_open`` (``GET /v2/clock``), ``failing_symbols`` (symbols whose cancel/close
    item answers 500 inside a 207), ``sticky_symbols`` (symbols whose close in ``DELETE /v2/positions``
    answers 200 but leaves the position open, as a close order that does not fill does).
    """

    OPEN = ("new", "accepted", "partially_filled", "pending_new", "held")

    def __init__(self, api_key: str = "PKTESTKEY", secret_key: str = "test-secret") -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self.market_open = True
        self.failing_symbols: set[str] = set()
        self.sticky_symbols: set[str] = set()
        self.orders: list[dict[str, Any]] = []
        self.positions: list[dict[str, Any]] = []
        super().__init__()
        self.reset_state()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the orders, positions, clock and account routes under ``/v2``."""
        router.add_get("/v2/orders", self._get_orders)
        router.add_delete("/v2/orders", self._cancel_orders)
        router.add_get("/v2/positions", self._get_positions)
        router.add_delete("/v2/positions", self._close_positions)
        router.add_get("/v2/positions/{symbol}", self._get_position)
        router.add_delete("/v2/positions/{symbol}", self._close_position)
        router.add_get("/v2/clock", self._clock)
        router.add_get("/v2/account", self._account)

    def reset_state(self) -> None:
        """Restore the seeded orders and position."""
        self.orders = _seed_orders()
        self.positions = _seed_positions()
        self.market_open = True
        self.failing_symbols = set()
        self.sticky_symbols = set()

    def failure_body(self, status: int) -> Any:
        """Alpaca's error shape."""
        if status == 429:
            return {"code": 42910000, "message": "rate limit exceeded"}
        return {"code": 50010000, "message": "internal server error"}

    def open_orders(self) -> list[dict[str, Any]]:
        """Orders whose status is still open."""
        return [o for o in self.orders if o["status"] in self.OPEN]

    def _authorized(self, request: web.Request) -> bool:
        return (
            request.headers.get("APCA-API-KEY-ID") == self.api_key
            and request.headers.get("APCA-API-SECRET-KEY") == self.secret_key
        )

    def _deny(self) -> web.Response:
        return web.json_response({"code": 40110000, "message": "request is not authorized"}, status=401)

    async def _get_orders(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        status = request.query.get("status", "open")
        if status == "open":
            return web.json_response(self.open_orders())
        if status == "closed":
            return web.json_response([o for o in self.orders if o["status"] not in self.OPEN])
        return web.json_response(self.orders)

    def _cancel_all(self) -> list[dict[str, Any]]:
        out = []
        for o in self.open_orders():
            if o["symbol"] in self.failing_symbols:
                out.append({"id": o["id"], "status": 500, "body": {"code": 50010000, "message": "failed"}})
                continue
            o["status"] = "canceled"
            out.append({"id": o["id"], "status": 200, "body": copy.deepcopy(o)})
        return out

    async def _cancel_orders(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        return web.json_response(self._cancel_all(), status=207)

    async def _get_positions(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        return web.json_response(self.positions)

    def _close(self, p: dict[str, Any]) -> dict[str, Any]:
        qty = p["qty"].lstrip("-")
        side = "sell" if p["side"] == "long" else "buy"
        order = _order(p["symbol"], side, qty, None, status="filled")
        self.orders.append(order)
        return order

    async def _close_positions(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        if request.query.get("cancel_orders", "").lower() == "true":
            self._cancel_all()
        out, kept = [], []
        for p in self.positions:
            if p["symbol"] in self.failing_symbols:
                out.append({"symbol": p["symbol"], "status": 500, "body": {"message": "failed"}})
                kept.append(p)
                continue
            out.append({"symbol": p["symbol"], "status": 200, "body": self._close(p)})
            if p["symbol"] in self.sticky_symbols:
                kept.append(p)
        self.positions = kept
        return web.json_response(out, status=207)

    def _not_found(self) -> web.Response:
        return web.json_response({"code": 40410000, "message": "position does not exist"}, status=404)

    async def _get_position(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        symbol = request.match_info["symbol"]
        found = [p for p in self.positions if p["symbol"] == symbol]
        return web.json_response(found[0]) if found else self._not_found()

    async def _close_position(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        symbol = request.match_info["symbol"]
        found = [p for p in self.positions if p["symbol"] == symbol]
        if not found:
            return self._not_found()
        p = found[0]
        held = abs(Decimal(p["qty"]))
        try:
            if "qty" in request.query:
                amount = Decimal(request.query["qty"])
            elif "percentage" in request.query:
                amount = held * Decimal(request.query["percentage"]) / 100
            else:
                amount = held
        except InvalidOperation:
            return web.json_response({"code": 40010001, "message": "invalid qty"}, status=422)
        if amount > held:
            message = f"insufficient qty available for order (requested: {amount}, available: {held})"
            return web.json_response({"code": 40310000, "message": message}, status=403)
        if amount == held:
            self.positions = [q for q in self.positions if q["symbol"] != symbol]
            return web.json_response(self._close(p))
        order = self._close({**p, "qty": str(amount)})
        sign = -1 if p["side"] == "short" else 1
        p["qty"] = p["qty_available"] = str(sign * (held - amount))
        return web.json_response(order)

    async def _clock(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        return web.json_response(
            {
                "timestamp": "2026-01-05T10:00:00-05:00",
                "is_open": self.market_open,
                "next_open": "2026-01-06T09:30:00-05:00",
                "next_close": "2026-01-05T16:00:00-05:00",
            }
        )

    async def _account(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        return web.json_response(
            {
                "id": "fake-account",
                "account_number": "PA0FAKE",
                "status": "ACTIVE",
                "currency": "USD",
                "cash": "100000",
                "buying_power": "200000",
                "equity": "147125",
                "trading_blocked": False,
                "pattern_day_trader": False,
            }
        )
