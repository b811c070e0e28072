"""The action registry maps every playbook action name to its plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from receiver.actions import build_actions
from receiver.actions.alpaca import AlpacaCancelAllOrders, AlpacaCloseAllPositions, AlpacaClosePosition, AlpacaGetClock
from receiver.actions.command import CommandAction
from receiver.actions.http import HttpAction
from receiver.actions.log import LogAction
from receiver.config.command import CommandConfig
from receiver.errors import ActionError
from receiver.settings import AlpacaConfig


async def test_build_actions_names_each_plugin() -> None:
    async with httpx.AsyncClient() as client:
        actions = build_actions(http_client=client, alpaca=AlpacaConfig(), command=CommandConfig())
    assert {name: type(a) for name, a in actions.items()} == {
        "http": HttpAction,
        "alpaca.cancel_all_orders": AlpacaCancelAllOrders,
        "alpaca.close_all_positions": AlpacaCloseAllPositions,
        "alpaca.close_position": AlpacaClosePosition,
        "alpaca.get_clock": AlpacaGetClock,
        "command": CommandAction,
        "log": LogAction,
    }


async def test_without_a_command_config_no_executable_is_allowed() -> None:
    async with httpx.AsyncClient() as client:
        actions = build_actions(http_client=client, alpaca=AlpacaConfig())
    with pytest.raises(ActionError, match="executable not allowed"):
        await actions["command"].run({"argv": ["/bin/true"]}, dry_run=True, timeout=5)


def test_the_actions_package_does_not_import_settings_at_runtime() -> None:
    """Actions read their config from ``receiver.config``, never ``receiver.settings`` at run time (no cycle)."""
    code = (
        "import sys, receiver.actions, receiver.actions.alpaca, receiver.config.command\n"
        "assert 'receiver.settings' not in sys.modules, 'receiver.actions imports receiver.settings'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
