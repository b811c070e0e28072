"""``action: alpaca.cancel_all_orders`` and ``alpaca.close_all_positions`` through alpaca-py.

alpaca-py's ``TradingClient`` is synchronous (requests), so each call runs in a thread
(``asyncio.to_thread``) under ``asyncio.wait_for`` with what is left of the step's timeout. Each
action reads the account state before and after its write so the timeline shows what changed.
API followed: Alpaca Trading API v2 (``DELETE /v2/orders``, ``DELETE /v2/positions``), which answers
207 with one ``{"id"|"symbol", "status", "body"}`` item per order or position.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from requests.adapters import HTTPAdapter

from receiver.actions.base import ActionResult
from receiver.errors import ActionError, classify_status
from receiver.settings import AlpacaConfig

with warnings.catch_warnings():
    # ``alpaca.trading`` imports its websocket stream, which imports ``websockets.legacy``
    # (deprecated since websockets 14); runbookd never streams, so the warning is noise.
    warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import QueryOrderStatus
    from alpaca.trading.requests import GetOrdersRequest

#: Alpaca answers at most 500 orders per page (default 50); enough to count what a halt cancels.
_OPEN_ORDERS = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)

NOT_CONFIGURED = "alpaca integration not configured (ALPACA_API_KEY/ALPACA_SECRET_KEY unset)"


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

    async def _call(self, what: str, fn: Callable[[], Any], deadline: float) -> Any:
        """Run ``fn`` in a thread until ``deadline`` (monotonic seconds); translate its errors.

        With ``raw_data=True`` the answer is the decoded JSON (lists of dicts), not models.
        """
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn), remaining)
        except TimeoutError as e:
            raise ActionError(f"alpaca {what}: no answer in time; outcome unknown", retryable=True) from e
        except APIError as e:
            status = e.status_code
            detail = str(e)[:300]
            retryable = True if status is None else classify_status(status)
            raise ActionError(f"alpaca {what}: HTTP {status}: {detail}", retryable=retryable) from e
        except requests.RequestException as e:
            raise ActionError(f"alpaca {what}: {type(e).__name__}: {e}", retryable=True) from e

    async def _count_after(self, what: str, fn: Callable[[], Any], deadline: float, data: dict[str, Any]) -> int | None:
        """The after-write count, or None (reason in ``data["after_error"]``): the write is done."""
        try:
            return len(await self._call(what, fn, deadline) or [])
        except ActionError as e:
            data["after_error"] = e.reason
            return None

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
    ``cancelled`` (ids).
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
            after = await self._count_after("get_orders", lambda: client.get_orders(_OPEN_ORDERS), deadline, data)
            _raise_partial("cancel_orders", _items_failed(items, "id"), "id", n, after)
            data.update(orders_after=after, cancelled=[i.get("id") for i in items or [] if isinstance(i, dict)])
            return ActionResult("ok", f"cancelled {n} open orders on the {self.account} account ({_left(after)})", data)

        return await self._run(timeout, body)


class AlpacaCloseAllPositions(_AlpacaAction):
    """Closes every position of the Alpaca account (``DELETE /v2/positions``); idempotent.

    ``params["cancel_orders"]`` (default True) cancels open orders first, as Alpaca's API does.
    ``data``: ``account``, ``positions_before`` / ``positions_after`` (counts), ``symbols``
    (before), ``cancel_orders``.
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
            after = await self._count_after("get_all_positions", client.get_all_positions, deadline, data)
            _raise_partial("close_all_positions", _items_failed(items, "symbol"), "symbol", len(before), after)
            data["positions_after"] = after
            return ActionResult(
                "ok",
                f"closed {len(before)} positions on the {self.account} account ({_left(after)})",
                data,
            )

        return await self._run(timeout, body)
