"""Playbook action plugins and their registry (one line per action name, no decorators).

Each plugin implements ``receiver.actions.base.Action``; ``build_actions`` is called once by
``receiver.app`` with the shared HTTP client and the integrations' config. This package imports
``receiver.settings`` for annotations only, so ``receiver.settings`` may import
``receiver.config.command``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx

from receiver.actions.alpaca import AlpacaCancelAllOrders, AlpacaCloseAllPositions, AlpacaClosePosition, AlpacaGetClock
from receiver.actions.base import Action, ActionResult
from receiver.actions.command import CommandAction
from receiver.actions.http import HttpAction
from receiver.actions.log import LogAction
from receiver.config.command import CommandConfig
from receiver.config.http_actions import HostAllowList

if TYPE_CHECKING:
    from receiver.settings import AlpacaConfig

__all__ = ["Action", "ActionResult", "CommandConfig", "build_actions"]


def build_actions(
    *, http_client: httpx.AsyncClient, alpaca: AlpacaConfig, command: CommandConfig | None = None,
    http_hosts: Sequence[str] | None = None,
) -> dict[str, Action]:
    """The action plugins by the ``action:`` name a playbook step uses.

    ``http_client`` is shared (owned and closed by the caller); an Alpaca config without keys still
    yields the Alpaca actions, which then answer ``skipped``. ``command`` is ``settings.command``;
    None (or its default) allows no executable, so every ``command`` step is refused. ``http_hosts``
    is ``settings.http_allowed_hosts()`` (None: no host restriction, for tests of other parts).
    """
    return {
        "http": HttpAction(http_client, allowed=None if http_hosts is None else HostAllowList.of(http_hosts)),
        "alpaca.cancel_all_orders": AlpacaCancelAllOrders(alpaca),
        "alpaca.close_all_positions": AlpacaCloseAllPositions(alpaca),
        "alpaca.close_position": AlpacaClosePosition(alpaca),
        "alpaca.get_clock": AlpacaGetClock(alpaca),
        "command": CommandAction(command if command is not None else CommandConfig()),
        "log": LogAction(),
    }
