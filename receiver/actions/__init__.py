"""Playbook action plugins and their registry (one line per action name, no decorators).

Each plugin implements ``receiver.actions.base.Action``; ``build_actions`` is called once by
``receiver.app`` with the shared HTTP client and the integrations' config.
"""

from __future__ import annotations

import httpx

from receiver.actions.alpaca import AlpacaCancelAllOrders, AlpacaCloseAllPositions
from receiver.actions.base import Action, ActionResult
from receiver.actions.http import HttpAction
from receiver.actions.log import LogAction
from receiver.settings import AlpacaConfig

__all__ = ["Action", "ActionResult", "build_actions"]


def build_actions(*, http_client: httpx.AsyncClient, alpaca: AlpacaConfig) -> dict[str, Action]:
    """The action plugins by the ``action:`` name a playbook step uses.

    ``http_client`` is shared (owned and closed by the caller); an Alpaca config without keys still
    yields the Alpaca actions, which then answer ``skipped``.
    """
    return {
        "http": HttpAction(http_client),
        "alpaca.cancel_all_orders": AlpacaCancelAllOrders(alpaca),
        "alpaca.close_all_positions": AlpacaCloseAllPositions(alpaca),
        "log": LogAction(),
    }
