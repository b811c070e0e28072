"""HttpAction checks the rendered URL against ``actions.http.allowed_hosts`` before sending anything."""

from __future__ import annotations

import httpx
import pytest

from receiver.actions.http import HttpAction
from receiver.config.http_actions import HostAllowList
from receiver.errors import ActionError
from tests.actions.conftest import TRADING_TOKEN
from tests.fakes import running
from tests.fakes.trading import FakeTradingSystem

STOP = "/admin/trading/emergency-stop"


async def test_a_host_and_port_not_allowed_is_refused_and_nothing_is_sent(
        trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    """Another loopback port than the allowed one (the trading system's) is refused, not retryable, and
    the server there sees no request, also when the URL carries the allowed host as its userinfo."""
    allowed = HostAllowList.of([trading.url])
    async with running(FakeTradingSystem(token=None)) as other:
        port = httpx.URL(other.url).port
        for url in (other.url + STOP, f"http://{httpx.URL(trading.url).netloc.decode()}@127.0.0.1:{port}{STOP}"):
            with pytest.raises(ActionError) as err:
                await HttpAction(http_client, allowed=allowed).run({"url": url}, dry_run=False, timeout=5)
            assert err.value.retryable is False
            assert f"127.0.0.1:{port} is not in actions.http.allowed_hosts" in err.value.reason
        assert other.count() == 0


async def test_dry_run_refuses_a_host_not_allowed_too(
        trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    """A dry run says the step would be refused instead of "would POST"."""
    action = HttpAction(http_client, allowed=HostAllowList.of(["trading.example"]))
    with pytest.raises(ActionError, match="is not in actions.http.allowed_hosts"):
        await action.run({"url": trading.url + STOP}, dry_run=True, timeout=5)


async def test_an_allowed_host_and_port_is_called(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    """The allowed trading system gets the request as before."""
    action = HttpAction(http_client, allowed=HostAllowList.of([trading.url]))
    result = await action.run({"url": trading.url + STOP, "headers": {"Authorization": f"Bearer {TRADING_TOKEN}"}},
                              dry_run=False, timeout=5)
    assert result.outcome == "ok" and trading.hits(STOP) == 1
