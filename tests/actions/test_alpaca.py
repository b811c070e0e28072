"""Alpaca actions: the real alpaca-py TradingClient against the fake Alpaca over HTTP."""

from __future__ import annotations

import time

import pytest

from receiver.actions.alpaca import (
    NOT_CONFIGURED,
    AlpacaCancelAllOrders,
    AlpacaCloseAllPositions,
    AlpacaClosePosition,
    AlpacaGetClock,
    get_clock,
    market_open,
    open_order_count,
    position_qty,
)
from receiver.errors import ActionError
from receiver.settings import AlpacaConfig
from tests.actions.conftest import ALPACA_KEY, ALPACA_SECRET
from tests.fakes.alpaca import FakeAlpaca


async def test_alpaca_not_configured_is_skipped(alpaca: FakeAlpaca) -> None:
    config = AlpacaConfig(url_override=alpaca.url)
    actions = (AlpacaCancelAllOrders(config), AlpacaCloseAllPositions(config), AlpacaClosePosition(config),
               AlpacaGetClock(config))
    for action in actions:
        result = await action.run({"symbol": "SPY"}, dry_run=False, timeout=5)
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
    assert AlpacaClosePosition.idempotent is True
    assert AlpacaGetClock.idempotent is True


# -- alpaca.close_position ---------------------------------------------------------------------


async def test_close_position_closes_one_symbol_and_records_before_and_after(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig
) -> None:
    result = await AlpacaClosePosition(alpaca_config).run({"symbol": "SPY"}, dry_run=False, timeout=5)
    assert result.outcome == "ok"
    assert result.summary == "closed SPY (100) on the paper account (0 left)"
    assert result.data["qty_before"] == 100 and result.data["qty_after"] == 0
    assert result.data["requested"] == "all"
    assert result.data["order_id"]
    assert alpaca.positions == []
    [delete] = alpaca.calls("/v2/positions/SPY", "DELETE")
    assert delete["query"] == {}
    assert len(alpaca.open_orders()) == 3  # closing one position leaves the orders alone


async def test_a_missing_position_is_ok_and_nothing_is_sent(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    result = await AlpacaClosePosition(alpaca_config).run({"symbol": "TSLA"}, dry_run=False, timeout=5)
    assert result.outcome == "ok"
    assert result.summary == "no open TSLA position on the paper account"
    assert result.data["qty_before"] == 0 and result.data["qty_after"] == 0
    assert alpaca.count(method="DELETE") == 0


async def test_closing_twice_is_harmless(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    action = AlpacaClosePosition(alpaca_config)
    await action.run({"symbol": "SPY"}, dry_run=False, timeout=5)
    again = await action.run({"symbol": "SPY"}, dry_run=False, timeout=5)
    assert again.outcome == "ok" and again.summary.startswith("no open SPY position")
    assert alpaca.count("/v2/positions/SPY", "DELETE") == 1


async def test_close_position_by_qty_and_by_percentage(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    action = AlpacaClosePosition(alpaca_config)
    result = await action.run({"symbol": "SPY", "qty": "10"}, dry_run=False, timeout=5)
    assert result.summary == "closed 10 of SPY (100) on the paper account (90 left)"
    assert result.data["requested"] == {"qty": "10"}
    result = await action.run({"symbol": "SPY", "percentage": 50, "qty": None}, dry_run=False, timeout=5)
    assert result.data["qty_before"] == 90 and result.data["qty_after"] == 45
    queries = [r["query"] for r in alpaca.calls("/v2/positions/SPY", "DELETE")]
    assert queries == [{"qty": "10"}, {"percentage": "50"}]


async def test_closing_more_than_held_is_a_non_retryable_403(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    with pytest.raises(ActionError) as exc:
        await AlpacaClosePosition(alpaca_config).run({"symbol": "SPY", "qty": "500"}, dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert "403" in exc.value.reason and "insufficient qty" in exc.value.reason


async def test_dry_run_close_position_reads_but_writes_nothing(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    action = AlpacaClosePosition(alpaca_config)
    result = await action.run({"symbol": "SPY", "percentage": "25"}, dry_run=True, timeout=5)
    assert result.outcome == "dry_run"
    assert result.summary == "would close 25% of SPY (100) on the paper account"
    none = await action.run({"symbol": "QQQ"}, dry_run=True, timeout=5)
    assert none.outcome == "dry_run"
    assert none.summary == "would close nothing: no open QQQ position on the paper account"
    assert alpaca.count(method="DELETE") == 0 and len(alpaca.positions) == 1


@pytest.mark.parametrize(
    "symbol",
    ["spy", "SPY/../../orders", "SPY?cancel_orders=true", "", "TOOLONGSYMBOL1", "{{ 7*7 }}", "SPY\n", None, 42,
     "$(id)" + "X" * 10000],
)
async def test_a_symbol_from_an_untrusted_label_is_validated_before_any_request(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig, symbol: object
) -> None:
    with pytest.raises(ActionError) as exc:
        await AlpacaClosePosition(alpaca_config).run({"symbol": symbol}, dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert exc.value.reason.startswith("invalid symbol")
    assert len(exc.value.reason) < 200
    assert alpaca.count() == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"qty": "1", "percentage": "5"}, "not both"),
        ({"qty": "-1"}, "greater than 0"),
        ({"qty": "abc"}, "must be a number"),
        ({"percentage": "150"}, "at most 100"),
        ({"qty": True}, "must be a number"),
    ],
)
async def test_bad_amounts_are_refused(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ActionError, match=message) as exc:
        await AlpacaClosePosition(alpaca_config).run({"symbol": "SPY", **params}, dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert alpaca.count() == 0


async def test_a_dotted_symbol_is_accepted(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    result = await AlpacaClosePosition(alpaca_config).run({"symbol": "BRK.B"}, dry_run=False, timeout=5)
    assert result.summary == "no open BRK.B position on the paper account"
    assert alpaca.count("/v2/positions/BRK.B", "GET") == 1


async def test_a_500_on_close_position_is_retryable(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    alpaca.fail_next(1, 500, path="/v2/positions/SPY")
    with pytest.raises(ActionError) as exc:
        await AlpacaClosePosition(alpaca_config).run({"symbol": "SPY"}, dry_run=False, timeout=5)
    assert exc.value.retryable is True


# -- alpaca.get_clock and precondition reads -----------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True])
async def test_get_clock_reads_the_clock_even_in_dry_run(
    alpaca: FakeAlpaca, alpaca_config: AlpacaConfig, dry_run: bool
) -> None:
    result = await AlpacaGetClock(alpaca_config).run({}, dry_run=dry_run, timeout=5)
    assert result.outcome == "ok"
    assert result.summary == "market open"
    assert result.data == {
        "is_open": True,
        "next_open": "2026-01-06T09:30:00-05:00",
        "next_close": "2026-01-05T16:00:00-05:00",
        "timestamp": "2026-01-05T10:00:00-05:00",
    }
    alpaca.market_open = False
    closed = await AlpacaGetClock(alpaca_config).run({}, dry_run=dry_run, timeout=5)
    assert closed.summary == "market closed" and closed.data["is_open"] is False


async def test_precondition_reads(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    assert await market_open(alpaca_config, 5) is True
    assert (await get_clock(alpaca_config, 5))["next_close"] == "2026-01-05T16:00:00-05:00"
    assert await position_qty(alpaca_config, "SPY", 5) == 100.0
    assert await position_qty(alpaca_config, "AAPL", 5) == 0.0
    assert await open_order_count(alpaca_config, 5) == 3
    alpaca.market_open = False
    assert await market_open(alpaca_config, 5) is False
    assert alpaca.count(method="DELETE") == 0


async def test_a_short_position_has_a_negative_qty(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    alpaca.positions[0].update(qty="-20", side="short")
    assert await position_qty(alpaca_config, "SPY", 5) == -20.0


async def test_precondition_reads_raise_classified_errors(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    alpaca.fail_next(1, 503, path="/v2/clock")
    with pytest.raises(ActionError) as exc:
        await market_open(alpaca_config, 5)
    assert exc.value.retryable is True
    with pytest.raises(ActionError) as exc:
        await market_open(AlpacaConfig(url_override=alpaca.url), 5)
    assert exc.value.retryable is False and exc.value.reason == NOT_CONFIGURED
    with pytest.raises(ActionError, match="invalid symbol"):
        await position_qty(alpaca_config, "spy; rm", 5)


async def test_a_slow_clock_times_out(alpaca: FakeAlpaca, alpaca_config: AlpacaConfig) -> None:
    alpaca.delays["/v2/clock"] = 2.0
    started = time.monotonic()
    with pytest.raises(ActionError) as exc:
        await market_open(alpaca_config, 0.3)
    assert time.monotonic() - started < 1.5
    assert exc.value.retryable is True
