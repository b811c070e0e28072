"""HttpAction against the fake trading system over real HTTP (httpx)."""

from __future__ import annotations

import time

import httpx
import pytest

from receiver.actions.http import HttpAction
from receiver.errors import ActionError
from tests.actions.conftest import TRADING_TOKEN
from tests.fakes.trading import FakeTradingSystem

STOP = "/admin/trading/emergency-stop"
AUTH = {"Authorization": f"Bearer {TRADING_TOKEN}"}


def params(fake: FakeTradingSystem, path: str = STOP, **extra: object) -> dict[str, object]:
    """Rendered parameters of an authorised POST to ``path`` on the fake; ``extra`` overrides keys."""
    return {
        "method": "POST",
        "url": fake.url + path,
        "headers": dict(AUTH),
        "json": {"reason": "P0"},
        **extra,
    }


async def test_a_2xx_is_ok_with_status_and_response(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    result = await HttpAction(http_client).run(params(trading), dry_run=False, timeout=5)
    assert result.outcome == "ok"
    assert result.summary == f"POST {trading.url}{STOP} -> 200"
    assert result.data["status"] == 200
    assert '"ok": true' in result.data["response"]
    assert trading.hits(STOP) == 1


async def test_the_rendered_json_body_and_headers_are_sent(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    p = params(trading, headers={**AUTH, "X-Request-Source": "runbookd"}, json={"reason": "halt", "n": 3})
    await HttpAction(http_client).run(p, dry_run=False, timeout=5)
    [req] = trading.calls(STOP)
    assert req["json"] == {"reason": "halt", "n": 3}
    assert req["headers"]["X-Request-Source"] == "runbookd"


async def test_a_label_value_with_template_syntax_and_shell_metacharacters_arrives_literally(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    hostile = "{{ 7*7 }} $(rm -rf /); `id` && echo ${HOME} | cat > /tmp/x 'quoted' \"dq\" {% raw %}"
    await HttpAction(http_client).run(params(trading, json={"instance": hostile}), dry_run=False, timeout=5)
    assert trading.calls(STOP)[0]["json"] == {"instance": hostile}


async def test_a_503_from_the_trading_system_is_a_retryable_action_error(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    trading.fail_next(1, 503, body={"ok": False, "error": "maintenance"})
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run(params(trading), dry_run=False, timeout=5)
    assert exc.value.retryable is True
    assert "503" in exc.value.reason and "maintenance" in exc.value.reason


async def test_a_429_is_retryable(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    trading.fail_next(1, 429)
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run(params(trading), dry_run=False, timeout=5)
    assert exc.value.retryable is True


async def test_a_wrong_token_401_is_not_retryable(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    p = params(trading, headers={"Authorization": "Bearer wrong"})
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run(p, dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert "401" in exc.value.reason
    assert trading.hits(STOP) == 0


async def test_dry_run_sends_no_request(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    result = await HttpAction(http_client).run(params(trading), dry_run=True, timeout=5)
    assert result.outcome == "dry_run"
    assert result.summary == f"would POST {trading.url}{STOP}"
    assert result.data["request"]["json"] == {"reason": "P0"}
    assert trading.count() == 0


async def test_dry_run_does_not_echo_the_bearer_token(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    result = await HttpAction(http_client).run(params(trading), dry_run=True, timeout=5)
    assert TRADING_TOKEN not in str(result.data)


@pytest.mark.parametrize("url", ["", "   ", "/admin/trading/emergency-stop", "trading:8080/admin", "ftp://x/y"])
async def test_a_url_without_scheme_and_host_is_skipped(http_client: httpx.AsyncClient, url: str) -> None:
    result = await HttpAction(http_client).run({"url": url}, dry_run=False, timeout=5)
    assert result.outcome == "skipped"
    assert result.summary.startswith("url not configured")


async def test_an_unreachable_trading_system_is_retryable(http_client: httpx.AsyncClient, dead_url: str) -> None:
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run({"url": dead_url + STOP}, dry_run=False, timeout=5)
    assert exc.value.retryable is True


async def test_a_slow_answer_times_out_as_retryable_with_outcome_unknown(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    trading.delays[STOP] = 2.0
    started = time.monotonic()
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run(params(trading), dry_run=False, timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert exc.value.retryable is True
    assert "outcome unknown" in exc.value.reason


async def test_a_header_value_with_a_line_break_is_refused_before_sending(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    p = params(trading, headers={**AUTH, "X-Instance": "a\r\nX-Admin-Token: forged"})
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run(p, dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert trading.count() == 0


async def test_an_unknown_method_is_not_retryable(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run(params(trading, method="BREW"), dry_run=False, timeout=5)
    assert exc.value.retryable is False


async def test_no_json_means_no_body(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    p = {"method": "GET", "url": trading.url + "/admin/status", "headers": AUTH, "json": None}
    result = await HttpAction(http_client).run(p, dry_run=False, timeout=5)
    assert result.summary.startswith("GET ")
    [req] = trading.calls("/admin/status")
    assert req["method"] == "GET" and req["body"] == ""


async def test_the_response_kept_for_the_timeline_is_cut_to_2000_characters(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    trading.fail_next(1, 200, body={"log": "x" * 5000})
    result = await HttpAction(http_client).run(params(trading), dry_run=False, timeout=5)
    assert len(result.data["response"]) == 2000


def test_http_action_is_idempotent() -> None:
    assert HttpAction.idempotent is True
