"""The HTTP edge shared by every endpoint: body read timeout, NUL in the target, JSON errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.conftest import ADMIN
from tests.rawhttp import parse_response


async def partial(rb: Any, path: str, sent: bytes, length: int) -> tuple[Any, float]:
    """Send headers announcing ``length`` bytes and only ``sent`` of them; the answer and its delay (s)."""
    reader, writer = await asyncio.open_connection(rb.client.host, rb.client.port)
    t0 = time.monotonic()
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Authorization: Bearer {ADMIN}\r\nContent-Length: {length}\r\n\r\n".encode() + sent)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 30)  # the server closes after its answer
    writer.close()
    return parse_response(data), time.monotonic() - t0


@pytest.mark.parametrize("path", ["/webhook/alertmanager", "/slack/interactions", "/webhook/pagerduty",
                                  "/api/v1/automation/pause"])
async def test_partial_body_is_408_after_the_read_timeout(fakes: Any, make_runbookd: Any, path: str) -> None:
    """A body that stops arriving is answered 408 once ``webhook.read_timeout`` passes, and the
    connection closed (not held for a minute)."""
    rb = await make_runbookd(fakes, webhook={"read_timeout": "300ms"})
    r, took = await partial(rb, path, b'{"version": "4", "al', 1000)
    assert r.status == 408, r.body
    assert "read_timeout" in r.json()["error"]
    assert 0.25 <= took < 5


async def test_a_webhook_408_is_counted(make_runbookd: Any) -> None:
    """The 408 of the webhook is counted in ``runbookd_webhook_requests_total``."""
    rb = await make_runbookd(None, webhook={"read_timeout": "200ms"})
    r, _ = await partial(rb, "/webhook/alertmanager", b"{", 100)
    assert r.status == 408
    assert rb.c.metrics.registry.get_sample_value("runbookd_webhook_requests_total", {"code": "408"}) == 1


async def test_read_timeout_defaults_to_ten_seconds(make_runbookd: Any) -> None:
    """Without configuration the body read timeout is 10 s."""
    rb = await make_runbookd(None)
    assert rb.c.settings.webhook.read_timeout == 10.0


@pytest.mark.parametrize(("target", "field"), [
    ("/api/v1/incidents/abc%00def", "path"),
    ("/api/v1/incidents?alertname=a%00b", "query.alertname"),
    ("/api/v1/incidents/abc%00/ack", "path"),
])
async def test_nul_in_path_or_query_is_400(make_runbookd: Any, storage: dict[str, Any], target: str,
                                           field: str) -> None:
    """A NUL in the path or a query parameter is a 400 naming it (PostgreSQL could not even look it up)."""
    rb = await make_runbookd(None, **storage)
    method = rb.client.post if target.endswith("/ack") else rb.client.get
    r = await method(target, headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status == 400, await r.text()
    assert (await r.json())["field"] == field


async def test_unknown_route_and_method_answer_json(make_runbookd: Any) -> None:
    """A 404 or 405 from routing has a JSON error body like every other error."""
    rb = await make_runbookd(None)
    r = await rb.client.get("/nowhere")
    assert r.status == 404 and (await r.json())["error"]
    r = await rb.client.get("/webhook/alertmanager")
    assert r.status == 405 and (await r.json())["error"]
    assert "POST" in r.headers["Allow"]


async def test_a_request_line_the_parser_refuses_is_logged_without_traceback(
        make_runbookd: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A request line over aiohttp's 8,190 bytes is a 400 from the parser, logged as one warning line."""
    rb = await make_runbookd(None)
    reader, writer = await asyncio.open_connection(rb.client.host, rb.client.port)
    writer.write(b"GET /api/v1/incidents/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    assert parse_response(data).status == 400
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert records and all(r.exc_info is None and r.levelname == "WARNING" for r in records)
    assert "refused by the HTTP parser" in records[0].getMessage()
