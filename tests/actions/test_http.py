"""HttpAction against the fake trading system over real HTTP (httpx)."""

from __future__ import annotations

import time

import httpx
import pytest
from aiohttp import web

from receiver.actions.http import HttpAction
from receiver.errors import ActionError
from tests.actions.conftest import TRADING_TOKEN
from tests.fakes import FakeServer
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


# -- retries ---------------------------------------------------------------------------------------


class Sleeps(list[float]):
    """A ``sleep`` for HttpAction that records the waits instead of sleeping."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def status_get(fake: FakeTradingSystem, **extra: object) -> dict[str, object]:
    """Rendered parameters of an authorised ``GET /admin/status``."""
    return {"method": "GET", "url": fake.url + "/admin/status", "headers": dict(AUTH), "json": None, **extra}


async def test_a_get_is_retried_with_exponential_backoff_until_it_succeeds(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    sleeps = Sleeps()
    trading.fail_next(2, 503)
    result = await HttpAction(http_client, sleep=sleeps).run(status_get(trading), dry_run=False, timeout=5)
    assert result.outcome == "ok"
    assert result.data["attempts"] == 3
    assert sleeps == [0.5, 1.0]
    assert trading.count("/admin/status") == 3 and trading.hits("/admin/status") == 1


async def test_retries_really_wait_between_attempts(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    trading.fail_next(1, 503)
    result = await HttpAction(http_client).run(status_get(trading, backoff=0.2), dry_run=False, timeout=5)
    [first, second] = trading.calls("/admin/status")
    assert result.data["attempts"] == 2
    assert second["time"] - first["time"] >= 0.15


async def test_a_non_idempotent_post_is_not_retried(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    sleeps = Sleeps()
    trading.fail_next(1, 503)
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client, sleep=sleeps).run(params(trading), dry_run=False, timeout=5)
    assert exc.value.retryable is True  # the classification stands; the playbook decides on a later retry
    assert "attempts" not in exc.value.reason
    assert trading.count(STOP) == 1 and sleeps == []


@pytest.mark.parametrize("flag", [True, "true", "True", "1"])
async def test_a_post_declared_idempotent_is_retried(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient, flag: object
) -> None:
    trading.fail_next(1, 503)
    result = await HttpAction(http_client, sleep=Sleeps()).run(params(trading, idempotent=flag), dry_run=False,
                                                               timeout=5)
    assert result.data["attempts"] == 2
    assert trading.hits(STOP) == 1


async def test_a_429_is_retried_for_a_get(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    trading.fail_next(1, 429)
    result = await HttpAction(http_client, sleep=Sleeps()).run(status_get(trading), dry_run=False, timeout=5)
    assert result.data["attempts"] == 2


async def test_when_every_attempt_fails_the_error_names_the_attempts(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    trading.fail_next(10, 502)
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client, sleep=Sleeps()).run(status_get(trading, retries=4), dry_run=False, timeout=5)
    assert exc.value.retryable is True
    assert exc.value.reason.endswith("(after 4 attempts)") and "502" in exc.value.reason
    assert trading.count("/admin/status") == 4


async def test_a_4xx_is_not_retried(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    sleeps = Sleeps()
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client, sleep=sleeps).run(
            status_get(trading, headers={"Authorization": "Bearer wrong"}), dry_run=False, timeout=5
        )
    assert exc.value.retryable is False
    assert trading.count("/admin/status") == 1 and sleeps == []


async def test_transport_errors_are_retried(http_client: httpx.AsyncClient, dead_url: str) -> None:
    sleeps = Sleeps()
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client, sleep=sleeps).run(
            {"method": "GET", "url": dead_url + "/admin/status"}, dry_run=False, timeout=5
        )
    assert exc.value.retryable is True
    assert "after 3 attempts" in exc.value.reason
    assert len(sleeps) == 2


async def test_the_wait_between_attempts_is_capped_at_10_seconds(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    sleeps = Sleeps()
    trading.fail_next(3, 503)
    await HttpAction(http_client, sleep=sleeps).run(status_get(trading, retries=4, backoff=8), dry_run=False,
                                                    timeout=60)
    assert sleeps == [8, 10, 10]


async def test_no_retry_starts_that_would_end_after_the_steps_timeout(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    sleeps = Sleeps()
    trading.fail_next(1, 503)
    with pytest.raises(ActionError):
        await HttpAction(http_client, sleep=sleeps).run(status_get(trading, backoff=8), dry_run=False, timeout=5)
    assert trading.count("/admin/status") == 1 and sleeps == []


async def test_retries_one_means_a_single_attempt(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    trading.fail_next(1, 503)
    with pytest.raises(ActionError):
        await HttpAction(http_client, sleep=Sleeps()).run(status_get(trading, retries=1), dry_run=False, timeout=5)
    assert trading.count("/admin/status") == 1


@pytest.mark.parametrize(
    "extra",
    [{"retries": 0}, {"retries": 11}, {"retries": "many"}, {"backoff": -1}, {"backoff": True},
     {"expect_status": "abc"}, {"expect_status": [99]}, {"expect_status": []}, {"expect_json": ["status"]}],
)
async def test_bad_retry_or_check_parameters_are_refused_before_sending(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient, extra: dict[str, object]
) -> None:
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run(status_get(trading, **extra), dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert trading.count() == 0


# -- result checks ---------------------------------------------------------------------------------


async def test_expect_json_mismatch_is_a_non_retryable_error(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    trading.fail_next(1, 200, body={"status": {"halted": False}})
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run(
            params(trading, expect_json={"status.halted": True}), dry_run=False, timeout=5
        )
    assert exc.value.retryable is False
    assert exc.value.reason == "expected status.halted == true, got false"


async def test_expect_json_match_is_ok(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    trading.fail_next(1, 200, body={"status": {"halted": True, "mode": "safe"}, "items": [{"id": 7}], "n": 2})
    expect = {"status.halted": True, "status.mode": "safe", "items.0.id": 7, "n": 2.0}
    result = await HttpAction(http_client).run(params(trading, expect_json=expect), dry_run=False, timeout=5)
    assert result.outcome == "ok"


@pytest.mark.parametrize(
    ("body", "expect", "message"),
    [
        ({"ok": True}, {"status.halted": True}, "expected status.halted == true, but the answer has no status.halted"),
        ({"halted": 1}, {"halted": True}, "expected halted == true, got 1"),
        ({"halted": "true"}, {"halted": True}, 'expected halted == true, got "true"'),
        ({"items": []}, {"items.0": 1}, "expected items.0 == 1, but the answer has no items.0"),
    ],
)
async def test_expect_json_compares_json_values_strictly(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient, body: object, expect: dict[str, object], message: str
) -> None:
    trading.fail_next(1, 200, body=body)
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client).run(params(trading, expect_json=expect), dry_run=False, timeout=5)
    assert exc.value.reason == message


async def test_expect_json_on_a_json_answer_that_is_not_an_object(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    trading.fail_next(1, 200, body="plain text")
    with pytest.raises(ActionError, match="has no ok"):
        await HttpAction(http_client).run(params(trading, expect_json={"ok": True}), dry_run=False, timeout=5)


async def test_expect_json_on_an_answer_that_is_not_json(http_client: httpx.AsyncClient) -> None:
    app = web.Application()
    app.router.add_post("/halt", _halted_probably)
    async with FakeServer(app) as url:
        with pytest.raises(ActionError) as exc:
            await HttpAction(http_client).run({"url": url + "/halt", "expect_json": {"ok": True}}, dry_run=False,
                                              timeout=5)
    assert exc.value.retryable is False
    assert "expected a JSON answer to check, got 'halted, probably'" in exc.value.reason


async def _halted_probably(request: web.Request) -> web.Response:
    return web.Response(text="halted, probably")


async def test_a_2xx_outside_expect_status_is_not_retryable(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    with pytest.raises(ActionError) as exc:
        await HttpAction(http_client, sleep=Sleeps()).run(status_get(trading, expect_status=[202]), dry_run=False,
                                                          timeout=5)
    assert exc.value.retryable is False
    assert exc.value.reason.startswith("expected status 202, got GET ")
    assert trading.count("/admin/status") == 1


async def test_expect_status_can_accept_a_non_2xx_answer(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    trading.fail_next(1, 409, body={"ok": False, "error": "already halted"})
    result = await HttpAction(http_client).run(params(trading, expect_status=[200, 409]), dry_run=False, timeout=5)
    assert result.outcome == "ok" and result.data["status"] == 409


async def test_an_expected_5xx_is_not_retried(trading: FakeTradingSystem, http_client: httpx.AsyncClient) -> None:
    trading.fail_next(1, 503)
    result = await HttpAction(http_client, sleep=Sleeps()).run(status_get(trading, expect_status=[503]),
                                                               dry_run=False, timeout=5)
    assert result.data == {"status": 503, "response": result.data["response"], "attempts": 1,
                           "json": result.data["json"]}


async def test_dry_run_shows_the_retry_policy_and_checks_and_sends_nothing(
    trading: FakeTradingSystem, http_client: httpx.AsyncClient
) -> None:
    p = status_get(trading, expect_status=[200, 409], expect_json={"ok": True})
    result = await HttpAction(http_client).run(p, dry_run=True, timeout=5)
    request = result.data["request"]
    assert request["attempts"] == 3
    assert request["expect_status"] == [200, 409] and request["expect_json"] == {"ok": True}
    assert trading.count() == 0
    post = await HttpAction(http_client).run(params(trading), dry_run=True, timeout=5)
    assert post.data["request"]["attempts"] == 1
