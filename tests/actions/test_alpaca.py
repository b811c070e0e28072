"""Alpaca actions: the real alpaca-py TradingClient against the fake Alpaca over HTTP."""

from __future__ import annotations

import time

import pytest

from receiver.actions.alpaca import NOT_CONFIGURED, AlpacaCancelAllOrders, AlpacaCloseAllPositions
from receiver.errors import ActionError
from receiver.settings import AlpacaConfig
from tests.actions.conftest import ALPACA_KEY, ALPACA_SECRET
from tests.fakes.alpaca import FakeAlpaca


async def test_alpaca_not_configured_is_skipped(alpaca: FakeAlpaca) -> None:
    config = AlpacaConfig(url_override=alpaca.url)
    for action in (AlpacaCancelAllOrders(config), AlpacaCloseAllPositions(config)):
        result = await action.run({}, dry_run=False, timeout=5)
        assert result.outcome == "skipped"
        assert result.summary == NOT_CONFIGURED
    assert alpaca.count() == 0


async def test_cancel_all_orders_cancels_and_records_before_and_after(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig
) -> None:
    result = await AlpacaCancelAllOrders(alpaca_config).run({}, dry_run=False, timeout=5)
    assert result.outcome == "ok"
    assert result.summary == "cancelled 3 open orders on the paper account (0 open after)"
    assert result.data["orders_before"] == 3 and result.data["orders_after"] == 0
    assert len(result.data["cancelled"]) == 3
    assert alpaca.open_orders() == []
    assert alpaca.count("/v2/orders", "DELETE") == 1


async def test_requests_carry_the_configured_key_pair(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    await AlpacaCancelAllOrders(alpaca_config).run({}, dry_run=True, timeout=5)
    [req] = alpaca.calls("/v2/orders")
    assert req["headers"]["APCA-API-KEY-ID"] == ALPACA_KEY
    assert req["headers"]["APCA-API-SECRET-KEY"] == ALPACA_SECRET


async def test_open_orders_are_counted_with_alpacas_largest_page(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig
) -> None:
    await AlpacaCancelAllOrders(alpaca_config).run({}, dry_run=True, timeout=5)
    assert alpaca.calls("/v2/orders")[0]["query"] == {"status": "open", "limit": "500"}


async def test_dry_run_cancel_reads_orders_but_writes_nothing(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    result = await AlpacaCancelAllOrders(alpaca_config).run({}, dry_run=True, timeout=5)
    assert result.outcome == "dry_run"
    assert result.summary == "would cancel 3 open orders on the paper account"
    assert [r["method"] for r in alpaca.requests] == ["GET"]
    assert len(alpaca.open_orders()) == 3


async def test_close_all_positions_also_cancels_orders_by_default(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig
) -> None:
    result = await AlpacaCloseAllPositions(alpaca_config).run({}, dry_run=False, timeout=5)
    assert result.outcome == "ok"
    assert result.data["positions_before"] == 1 and result.data["positions_after"] == 0
    assert result.data["symbols"] == ["SPY"]
    [delete] = alpaca.calls("/v2/positions", "DELETE")
    assert delete["query"]["cancel_orders"].lower() == "true"
    assert alpaca.positions == [] and alpaca.open_orders() == []


async def test_close_all_positions_can_leave_orders_alone(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    await AlpacaCloseAllPositions(alpaca_config).run({"cancel_orders": False}, dry_run=False, timeout=5)
    [delete] = alpaca.calls("/v2/positions", "DELETE")
    assert "cancel_orders" not in delete["query"]
    assert len(alpaca.open_orders()) == 3


async def test_dry_run_close_names_the_positions_and_writes_nothing(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig
) -> None:
    result = await AlpacaCloseAllPositions(alpaca_config).run({}, dry_run=True, timeout=5)
    assert result.outcome == "dry_run"
    assert result.summary == "would close 1 positions (SPY) and cancel open orders on the paper account"
    assert alpaca.count(method="DELETE") == 0
    assert len(alpaca.positions) == 1


async def test_a_live_account_is_named_live(alpaca: FakeAlpaca) -> None:
    config = AlpacaConfig(api_key=ALPACA_KEY, secret_key=ALPACA_SECRET, paper=False, url_override=alpaca.url)
    result = await AlpacaCancelAllOrders(config).run({}, dry_run=True, timeout=5)
    assert result.summary.endswith("on the live account")


async def test_a_500_is_retryable(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    alpaca.fail_next(1, 500, path="/v2/positions")
    with pytest.raises(ActionError) as exc:
        await AlpacaCloseAllPositions(alpaca_config).run({}, dry_run=False, timeout=5)
    assert exc.value.retryable is True
    assert "500" in exc.value.reason


async def test_a_429_is_retryable_and_not_retried_inside_alpaca_py(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig
) -> None:
    alpaca.fail_next(3, 429, path="/v2/orders")
    started = time.monotonic()
    with pytest.raises(ActionError) as exc:
        await AlpacaCancelAllOrders(alpaca_config).run({}, dry_run=False, timeout=10)
    assert exc.value.retryable is True
    assert alpaca.count("/v2/orders") == 1
    assert time.monotonic() - started < 2


async def test_a_wrong_key_is_not_retryable(alpaca: FakeAlpaca) -> None:
    config = AlpacaConfig(api_key=ALPACA_KEY, secret_key="wrong", url_override=alpaca.url)
    with pytest.raises(ActionError) as exc:
        await AlpacaCancelAllOrders(config).run({}, dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert "401" in exc.value.reason


async def test_an_order_that_fails_to_cancel_inside_a_207_is_a_retryable_error(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig
) -> None:
    alpaca.failing_symbols.add("AAPL")
    with pytest.raises(ActionError) as exc:
        await AlpacaCancelAllOrders(alpaca_config).run({}, dry_run=False, timeout=5)
    assert exc.value.retryable is True
    assert "1 of 3 failed" in exc.value.reason and "1 open after" in exc.value.reason


async def test_a_slow_broker_times_out_as_retryable(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    alpaca.delays["/v2/orders"] = 2.0
    started = time.monotonic()
    with pytest.raises(ActionError) as exc:
        await AlpacaCancelAllOrders(alpaca_config).run({}, dry_run=False, timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert exc.value.retryable is True


async def test_an_unreachable_broker_is_retryable(dead_url: str) -> None:
    config = AlpacaConfig(api_key=ALPACA_KEY, secret_key=ALPACA_SECRET, url_override=dead_url)
    with pytest.raises(ActionError) as exc:
        await AlpacaCancelAllOrders(config).run({}, dry_run=False, timeout=5)
    assert exc.value.retryable is True


def test_alpaca_actions_are_idempotent() -> None:
    assert AlpacaCancelAllOrders.idempotent is True
    assert AlpacaCloseAllPositions.idempotent is True
