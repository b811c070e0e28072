"""The ``alpaca.*`` actions through alpaca-py, and the broker reads that step preconditions need.

Actions: ``alpaca.cancel_all_orders``, ``alpaca.close_all_positions``, ``alpaca.close_position``
(one symbol), ``alpaca.get_clock`` (read-only). Precondition reads: ``market_open``,
``position_qty``, ``open_order_count``, ``get_clock``.

alpaca-py's ``TradingClient`` is synchronous (requests), so each call runs in a thread
(``asyncio.to_thread``) under ``asyncio.wait_for`` with what is left of the step's timeout. Each
action reads the account state before and after its write so the timeline shows what changed.
API followed: Alpaca Trading API v2 (``DELETE /v2/orders``, ``DELETE /v2/positions``, which answer
207 with one ``{"id"|"symbol", "status", "body"}`` item per order or position; ``GET`` and ``DELETE
/v2/positions/{symbol}``, which answer 404 ``{"code": 40410000, "message": "position does not
exist"}`` when there is none; ``GET /v2/clock``).
"""

from __future__ import annotations

import asyncio
import re
import time
import warnings
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import requests
from alpaca.common.exceptions import APIError
from requests.adapters import HTTPAdapter

from receiver.actions.base import ActionResult
from receiver.errors import ActionError, classify_status

if TYPE_CHECKING:
    # Annotations only: ``receiver.settings`` imports the config models of ``receiver.config``; a
    # runtime import here would be a cycle.
    from receiver.settings import AlpacaConfig

with warnings.catch_warnings():
    # ``alpaca.trading`` imports its websocket stream, which imports ``websockets.legacy``
    # (deprecated since websockets 14); runbookd never streams, so the warning is noise.
    warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import QueryOrderStatus
    from alpaca.trading.requests import ClosePositionRequest, GetOrdersRequest

#: Alpaca answers at most 500 orders per page (default 50); enough to count what a halt cancels.
_OPEN_ORDERS = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)

NOT_CONFIGURED = "alpaca integration not configured (ALPACA_API_KEY/ALPACA_SECRET_KEY unset)"
#: What ``alpaca.close_position`` accepts as a symbol (labels are untrusted: nothing else reaches a URL).
SYMBOL = re.compile(r"[A-Z0-9.]{1,12}")
_MISSING = object()


class _TimeoutAdapter(HTTPAdapter):
    """A requests adapter with a default socket timeout (alpaca-py passes none) and no retries."""

    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send with the default timeout when the caller gave none."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


class _AlpacaAction:
    """Shared plumbing: client construction, thread calls with a deadline, error translation.

    ``account`` is ``"paper"`` or ``"live"`` (from ``config.paper``), as the summaries name it.
    """

    idempotent = True

    def __init__(self, config: AlpacaConfig) -> None:
        self._config = config
        self.account = "paper" if config.paper else "live"

    def _client(self, timeout: float) -> TradingClient:
        client = TradingClient(
            api_key=self._config.api_key,
            secret_key=self._config.secret_key,
            paper=self._config.paper,
            url_override=self._config.url_override,
            raw_data=True,
        )
        # TradingClient does not expose alpaca-py's retry settings and its RESTClient treats 0 as
        # "use the default" (3 retries, 3 s apart, on 429/504): set the attribute so a 429 surfaces
        # at once and our playbook layer, which owns retries and backoff, decides.
        client._retry = 0
        # alpaca-py sends without a timeout; a session we own bounds each socket wait and is closed.
        session = requests.Session()
        adapter = _TimeoutAdapter(timeout)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        client._session.close()
        client._session = session
        return client

    async def _call(self, what: str, fn: Callable[[], Any], deadline: float, *, missing_ok: bool = False) -> Any:
        """Run ``fn`` in a thread until ``deadline`` (monotonic seconds); translate its errors.

        With ``raw_data=True`` the answer is the decoded JSON (lists of dicts), not models. With
        ``missing_ok`` a 404 answers ``_MISSING`` instead of raising.
        """
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            async with asyncio.timeout(remaining):  # not wait_for: it can swallow a cancellation (gh-86296)
                return await asyncio.to_thread(fn)
        except TimeoutError as e:
            raise ActionError(f"alpaca {what}: no answer in time; outcome unknown", retryable=True) from e
        except APIError as e:
            status = e.status_code
            if missing_ok and status == 404:
                return _MISSING
            detail = str(e)[:300]
            retryable = True if status is None else classify_status(status)
            raise ActionError(f"alpaca {what}: HTTP {status}: {detail}", retryable=retryable) from e
        except requests.RequestException as e:
            raise ActionError(f"alpaca {what}: {type(e).__name__}: {e}", retryable=True) from e

    async def _count_after(self, what: str, fn: Callable[[], Any], deadline: float, data: dict[str, Any],
                           key: str | None = None) -> int | None:
        """The after-write count, or None (reason in ``data["after_error"]``): the write is done.

        With ``key`` (``symbol`` / ``id``) what is left goes to ``data["remaining"]``.
        """
        try:
            items = await self._call(what, fn, deadline) or []
        except ActionError as e:
            data["after_error"] = e.reason
            return None
        if key is not None:
            data["remaining"] = [i.get(key) for i in items if isinstance(i, dict)]
        return len(items)

    async def _verify(self, timeout: float, what: str, fn: Callable[[TradingClient], Any], key: str,
                      count: str, noun: str) -> ActionResult:
        """The read behind the built-in ``verify``: ``ok`` with ``data[count]`` and ``data["remaining"]``."""

        async def body(client: TradingClient, deadline: float) -> ActionResult:
            data: dict[str, Any] = {"account": self.account}
            n = await self._count_after(what, lambda: fn(client), deadline, data, key)
            if n is None:
                raise ActionError(str(data["after_error"]), retryable=True)
            data[count] = n
            left = ", ".join(map(str, data["remaining"]))
            return ActionResult("ok", f"{n} {noun} open on the {self.account} account" + (f": {left}" if n else ""),
                                data)

        return await self._run(timeout, body)

    async def _run(
        self, timeout: float, body: Callable[[TradingClient, float], Awaitable[ActionResult]]
    ) -> ActionResult:
        if not self._config.enabled:
            return ActionResult("skipped", NOT_CONFIGURED)
        client = self._client(timeout)
        try:
            return await body(client, time.monotonic() + timeout)
        finally:
            client._session.close()


def _items_failed(items: Any, key: str) -> list[dict[str, Any]]:
    """The items of a 207 answer whose own status is not 2xx: ``[{key, "status"}]``."""
    failed = []
    for item in items or []:
        status = int(item.get("status", 200)) if isinstance(item, dict) else 200
        if not 200 <= status < 300:
            failed.append({key: item.get(key), "status": status})
    return failed


def _left(after: int | None) -> str:
    return "count after unknown" if after is None else f"{after} open after"


def _raise_partial(what: str, failed: list[dict[str, Any]], key: str, before: int, after: int | None) -> None:
    if not failed:
        return
    names = ", ".join(f"{f[key]} ({f['status']})" for f in failed)
    raise ActionError(
        f"alpaca {what}: {len(failed)} of {before} failed: {names} ({_left(after)})",
        retryable=any(classify_status(f["status"]) for f in failed),
    )


class AlpacaCancelAllOrders(_AlpacaAction):
    """Cancels every open order of the configured Alpaca account (``DELETE /v2/orders``); idempotent.

    ``data``: ``account`` (paper/live), ``orders_before``, ``orders_after`` (open orders counted
    with ``GET /v2/orders``; cancels are asynchronous, so some may still show as open),
    ``cancelled`` (ids), ``remaining`` (ids still open after).
    """

    async def run(self, params: dict[str, Any], *, dry_run: bool, timeout: float) -> ActionResult:
        """Cancel all open orders; ``timeout`` (seconds) bounds the reads and the write together.

        Returns ``skipped`` when the integration is not configured and ``dry_run`` after the
        before-read only. Raises ``ActionError``: 5xx/429/transport/timeout retryable, other 4xx not;
        also when some order's own status in the 207 answer is not 2xx.
        """

        async def body(client: TradingClient, deadline: float) -> ActionResult:
            before = await self._call("get_orders", lambda: client.get_orders(_OPEN_ORDERS), deadline)
            n = len(before or [])
            data: dict[str, Any] = {"account": self.account, "orders_before": n}
            if dry_run:
                return ActionResult("dry_run", f"would cancel {n} open orders on the {self.account} account", data)
            items = await self._call("cancel_orders", client.cancel_orders, deadline)
            after = await self._count_after("get_orders", lambda: client.get_orders(_OPEN_ORDERS), deadline, data,
                                            "id")
            _raise_partial("cancel_orders", _items_failed(items, "id"), "id", n, after)
            data.update(orders_after=after, cancelled=[i.get("id") for i in items or [] if isinstance(i, dict)])
            return ActionResult("ok", f"cancelled {n} open orders on the {self.account} account ({_left(after)})", data)

        return await self._run(timeout, body)

    async def verify(self, params: dict[str, Any], *, timeout: float) -> ActionResult:
        """Read the open orders (``GET /v2/orders?status=open``): ``data`` ``orders_after``, ``remaining``
        (ids). The built-in ``verify`` of the step repeats it until none is left. Raises ``ActionError``."""
        return await self._verify(timeout, "get_orders", lambda c: c.get_orders(_OPEN_ORDERS), "id",
                                  "orders_after", "orders")


class AlpacaCloseAllPositions(_AlpacaAction):
    """Closes every position of the Alpaca account (``DELETE /v2/positions``); idempotent.

    ``params["cancel_orders"]`` (default True) cancels open orders first, as Alpaca's API does.
    ``data``: ``account``, ``positions_before`` / ``positions_after`` (counts), ``symbols``
    (before), ``remaining`` (symbols still open after), ``cancel_orders``.
    """

    async def run(self, params: dict[str, Any], *, dry_run: bool, timeout: float) -> ActionResult:
        """Liquidate all positions; ``timeout`` (seconds) bounds the reads and the write together.

        Returns ``skipped`` when not configured, ``dry_run`` after the before-read only. Raises
        ``ActionError`` as ``AlpacaCancelAllOrders.run`` does.
        """
        cancel_orders = bool(params.get("cancel_orders", True))

        async def body(client: TradingClient, deadline: float) -> ActionResult:
            before = await self._call("get_all_positions", client.get_all_positions, deadline) or []
            symbols = [p.get("symbol") for p in before]
            data: dict[str, Any] = {
                "account": self.account,
                "positions_before": len(before),
                "symbols": symbols,
                "cancel_orders": cancel_orders,
            }
            also = " and cancel open orders" if cancel_orders else ""
            if dry_run:
                listed = f" ({', '.join(map(str, symbols))})" if symbols else ""
                return ActionResult(
                    "dry_run",
                    f"would close {len(before)} positions{listed}{also} on the {self.account} account",
                    data,
                )
            items = await self._call(
                "close_all_positions",
                lambda: client.close_all_positions(cancel_orders=cancel_orders),
                deadline,
            )
            after = await self._count_after("get_all_positions", client.get_all_positions, deadline, data, "symbol")
            _raise_partial("close_all_positions", _items_failed(items, "symbol"), "symbol", len(before), after)
            data["positions_after"] = after
            return ActionResult(
                "ok",
                f"closed {len(before)} positions on the {self.account} account ({_left(after)})",
                data,
            )

        return await self._run(timeout, body)

    async def verify(self, params: dict[str, Any], *, timeout: float) -> ActionResult:
        """Read the open positions (``GET /v2/positions``): ``data`` ``positions_after``, ``remaining``
        (symbols). The built-in ``verify`` of the step repeats it until none is left. Raises ``ActionError``."""
        return await self._verify(timeout, "get_all_positions", lambda c: c.get_all_positions(), "symbol",
                                  "positions_after", "positions")


def _symbol(params: dict[str, Any]) -> str:
    """``params["symbol"]`` when it matches ``SYMBOL``; else ``ActionError`` (not retryable)."""
    symbol = params.get("symbol")
    if not isinstance(symbol, str) or not SYMBOL.fullmatch(symbol):
        shown = repr(symbol) if not isinstance(symbol, str) or len(symbol) <= 40 else repr(symbol[:40]) + "…"
        raise ActionError(f"invalid symbol {shown}: expected 1-12 of A-Z, 0-9 and '.'", retryable=False)
    return symbol


def _positive(name: str, value: Any, most: Decimal | None = None) -> str | None:
    """A positive decimal parameter as Alpaca takes it (a plain decimal string), or None when unset."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ActionError(f"{name} must be a number, got {str(value)[:40]!r}", retryable=False) from None
    if not d.is_finite() or d <= 0 or (most is not None and d > most):
        limit = f" and at most {most}" if most is not None else ""
        raise ActionError(f"{name} must be greater than 0{limit}, got {d}", retryable=False)
    return format(d.normalize(), "f")


def _qty(position: Any) -> float:
    """The signed quantity of a raw position (0.0 for ``_MISSING``: Alpaca's 404 means no position)."""
    if position is _MISSING or not isinstance(position, dict):
        return 0.0
    return float(position.get("qty") or 0)


class AlpacaClosePosition(_AlpacaAction):
    """Closes one symbol's position (``DELETE /v2/positions/{symbol}``), all of it or a part; idempotent.

    ``params``: ``symbol`` (required, ``^[A-Z0-9.]{1,12}$``: anything else is refused before any
    request, since it usually comes from an alert label), and at most one of ``qty`` (shares,
    > 0) or ``percentage`` (0 < p <= 100); neither closes the whole position. No open position
    (404) is success: there is nothing left to close. ``data``: ``account``, ``symbol``,
    ``qty_before``, ``qty_after`` (signed; 0 when none), ``requested`` (``{"qty"}``,
    ``{"percentage"}`` or ``"all"``), ``order_id`` of the closing order.
    """

    async def run(self, params: dict[str, Any], *, dry_run: bool, timeout: float) -> ActionResult:
        """Close the position; ``timeout`` (seconds) bounds the reads and the write together.

        Returns ``skipped`` when not configured; ``ok`` with "no open SPY position on the paper
        account" when there is none (in dry-run: ``dry_run``, "would close nothing: …"); ``dry_run``
        after the before-read only. Raises ``ActionError``: a bad symbol, qty or percentage (not
        retryable, nothing sent); 5xx/429/transport/timeout retryable, other 4xx (e.g. 403
        insufficient quantity) not.
        """
        symbol = _symbol(params)
        qty = _positive("qty", params.get("qty"))
        percentage = _positive("percentage", params.get("percentage"), Decimal(100))
        if qty is not None and percentage is not None:
            raise ActionError("give qty or percentage, not both", retryable=False)
        requested: Any = {"qty": qty} if qty else {"percentage": percentage} if percentage else "all"
        options = ClosePositionRequest(qty=qty, percentage=percentage) if qty or percentage else None

        async def body(client: TradingClient, deadline: float) -> ActionResult:
            get = f"get_open_position({symbol})"
            before = await self._call(get, lambda: client.get_open_position(symbol), deadline, missing_ok=True)
            n = _qty(before)
            data: dict[str, Any] = {"account": self.account, "symbol": symbol, "qty_before": n, "requested": requested}
            none = f"no open {symbol} position on the {self.account} account"
            if before is _MISSING:
                data["qty_after"] = 0.0
                if dry_run:
                    return ActionResult("dry_run", f"would close nothing: {none}", data)
                return ActionResult("ok", none, data)
            part = f"{qty} of " if qty else f"{percentage}% of " if percentage else ""
            what = f"{part}{symbol} ({n:g}) on the {self.account} account"
            if dry_run:
                return ActionResult("dry_run", f"would close {what}", data)
            order = await self._call(
                f"close_position({symbol})",
                lambda: client.close_position(symbol, close_options=options),
                deadline,
                missing_ok=True,
            )
            if order is _MISSING:  # closed by someone else between the read and the write
                data["qty_after"] = 0.0
                return ActionResult("ok", none, data)
            data["order_id"] = order.get("id") if isinstance(order, dict) else None
            try:
                after: float | None = _qty(
                    await self._call(get, lambda: client.get_open_position(symbol), deadline, missing_ok=True)
                )
            except ActionError as e:
                after, data["after_error"] = None, e.reason
            data["qty_after"] = after
            left = "count after unknown" if after is None else f"{after:g} left"
            return ActionResult("ok", f"closed {what} ({left})", data)

        return await self._run(timeout, body)


class AlpacaGetClock(_AlpacaAction):
    """Reads the market clock (``GET /v2/clock``); read-only, so it runs in dry-run too; idempotent.

    ``data``: ``is_open`` (bool), ``next_open``, ``next_close``, ``timestamp`` (RFC 3339 strings
    as Alpaca gives them, in America/New_York).
    """

    async def run(self, params: dict[str, Any], *, dry_run: bool, timeout: float) -> ActionResult:
        """Return ``ActionResult("ok", "market open" | "market closed", data)``, dry-run or not.

        Returns ``skipped`` when not configured. Raises ``ActionError`` as the other Alpaca actions do.
        """

        async def body(client: TradingClient, deadline: float) -> ActionResult:
            data = _clock_data(await self._call("get_clock", client.get_clock, deadline))
            return ActionResult("ok", "market open" if data["is_open"] else "market closed", data)

        return await self._run(timeout, body)


def _clock_data(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("is_open"), bool):
        raise ActionError(f"alpaca get_clock: unexpected answer {str(raw)[:200]!r}", retryable=False)
    return {k: raw.get(k) for k in ("is_open", "next_open", "next_close", "timestamp")}


async def _read(
    config: AlpacaConfig, timeout: float, what: str, fn: Callable[[TradingClient], Any], *, missing_ok: bool = False
) -> Any:
    """One read for a precondition (``_MISSING`` on 404 with ``missing_ok``).

    Raises ``ActionError``, also (not retryable) when the integration is not configured.
    """
    if not config.enabled:
        raise ActionError(NOT_CONFIGURED, retryable=False)
    reader = _AlpacaAction(config)
    client = reader._client(timeout)
    try:
        return await reader._call(what, lambda: fn(client), time.monotonic() + timeout, missing_ok=missing_ok)
    finally:
        client._session.close()


async def get_clock(config: AlpacaConfig, timeout: float) -> dict[str, Any]:
    """The market clock: ``{"is_open", "next_open", "next_close", "timestamp"}`` (``GET /v2/clock``).

    ``timeout`` in seconds. Raises ``ActionError``: not configured (not retryable), HTTP and
    transport errors classified as the actions do.
    """
    return _clock_data(await _read(config, timeout, "get_clock", lambda c: c.get_clock()))


async def market_open(config: AlpacaConfig, timeout: float) -> bool:
    """Whether the market is open now per Alpaca's clock (for ``when:`` preconditions).

    Raises ``ActionError`` as ``get_clock`` does; the caller decides fail-open or fail-closed.
    """
    return bool((await get_clock(config, timeout))["is_open"])


async def position_qty(config: AlpacaConfig, symbol: str, timeout: float) -> float:
    """The signed quantity held in ``symbol`` (``GET /v2/positions/{symbol}``), 0.0 when there is none.

    Raises ``ActionError``: a symbol outside ``^[A-Z0-9.]{1,12}$`` or not configured (not
    retryable); HTTP and transport errors classified as the actions do.
    """
    sym = _symbol({"symbol": symbol})
    got = await _read(config, timeout, f"get_open_position({sym})", lambda c: c.get_open_position(sym), missing_ok=True)
    return _qty(got)


async def open_order_count(config: AlpacaConfig, timeout: float) -> int:
    """How many orders are open (``GET /v2/orders?status=open&limit=500``; at most 500 are counted).

    Raises ``ActionError`` as ``get_clock`` does.
    """
    return len(await _read(config, timeout, "get_orders", lambda c: c.get_orders(_OPEN_ORDERS)) or [])
