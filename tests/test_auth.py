"""Authentication checks: malformed credentials are refused (401), never a 500 before authentication."""

from __future__ import annotations

from typing import Any

import pytest

from receiver.auth import basic_ok, bearer_ok
from tests.conftest import ADMIN, alert, payload
from tests.rawhttp import raw_request


@pytest.mark.parametrize("header", ["Bearer \udcff", "Bearer \u00e9", "Bearer \x00", "Bearer \ud800"])
def test_bearer_with_bytes_that_are_not_the_token_is_refused(header: str) -> None:
    """A bearer header with undecodable bytes (surrogate-escaped by aiohttp) or non-ASCII is False, not an error."""
    assert bearer_ok(header, "token") is False


@pytest.mark.parametrize("header", ["Basic \u00e9\u00e9\u00e9\u00e9", "Basic \udcff", "Basic //79"])
def test_basic_with_non_ascii_or_non_utf8_is_refused(header: str) -> None:
    """A basic header that is not ASCII base64 of UTF-8 is False, not a ValueError."""
    assert basic_ok(header, "am", "pw") is False


async def test_non_ascii_token_still_matches() -> None:
    """A configured token with non-ASCII characters is compared as UTF-8 bytes and still matches."""
    assert bearer_ok("Bearer t\u00f6ken".encode().decode("utf-8", "surrogateescape"), "t\u00f6ken")


@pytest.mark.parametrize("path", ["/webhook/alertmanager", "/api/v1/incidents"])
@pytest.mark.parametrize("value", [b"Bearer \xff", b"Bearer \xc3", b"Basic \xff\xfe", b"Bearer \xe9t\xe9"])
async def test_undecodable_authorization_header_is_401(make_runbookd: Any, path: str, value: bytes) -> None:
    """``Authorization`` bytes that are not UTF-8 get 401 on the webhook and the admin API, not 500."""
    rb = await make_runbookd(None, webhook={"auth": {"bearer_token": "s3cret"}})
    body = b'{"version":"4"}'
    method = b"POST" if path.startswith("/webhook") else b"GET"
    head = (method + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: " + value + b"\r\nContent-Length: " + str(len(body)).encode())
    r = await raw_request(rb.client.host, rb.client.port, head, body)
    assert r.status == 401, r.body
    assert r.json()["error"]
    ok = await rb.client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {ADMIN}"})
    assert ok.status == 200
    assert (await rb.post_alerts(payload(alert()), Authorization="Bearer s3cret")).status == 200
