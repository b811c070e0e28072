"""The action registry maps every playbook action name to its plugin."""

from __future__ import annotations

import httpx

from receiver.actions import build_actions
from receiver.actions.alpaca import AlpacaCancelAllOrders, AlpacaCloseAllPositions
from receiver.actions.http import HttpAction
from receiver.actions.log import LogAction
from receiver.settings import AlpacaConfig


async def test_build_actions_names_each_plugin() -> None:
    async with httpx.AsyncClient() as client:
        actions = build_actions(http_client=client, alpaca=AlpacaConfig())
    assert {name: type(a) for name, a in actions.items()} == {
        "http": HttpAction,
        "alpaca.cancel_all_orders": AlpacaCancelAllOrders,
        "alpaca.close_all_positions": AlpacaCloseAllPositions,
        "log": LogAction,
    }
