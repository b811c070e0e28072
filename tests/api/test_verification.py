"""Signature checks of the Slack and PagerDuty endpoints: malformed signatures, timestamps and bodies
are refused (401 or 400) before anything can raise; nothing changes."""

from __future__ import annotations

import gzip
import hashlib
import hmac
from typing import Any

import pytest

from tests.conftest import PD_SECRET, SLACK_SECRET
from tests.rawhttp import raw_request


def slack_head(path: str, ts: bytes, sig: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"X-Slack-Request-Timestamp: " + ts + b"\r\nX-Slack-Signature: " + sig + b"\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode())


def slack_sig(ts: str, body: bytes) -> bytes:
    return b"v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest().encode()


SLACK_CASES = {
    "sig-non-ascii": (None, "v0=\u00e9".encode()),
    "sig-latin1": (None, b"v0=\xe9"),
    "ts-superscript": ("\u00b2".encode(), None),
    "ts-5000-digits": (b"1" * 5000, None),
    "ts-negative": (b"-1", None),
    "ts-latin1": (b"\xb2", None),
}


@pytest.mark.parametrize("path", ["/slack/interactions", "/slack/commands"])
@pytest.mark.parametrize("case", list(SLACK_CASES), ids=list(SLACK_CASES))
async def test_malformed_slack_signature_or_timestamp_is_401(fakes: Any, make_runbookd: Any, path: str,
                                                             case: str) -> None:
    """A Slack signature that is not ASCII, or a timestamp that is not a few ASCII digits, is 401."""
    rb = await make_runbookd(fakes)
    ts, sig = SLACK_CASES[case]
    body = b"payload=%7B%7D"
    stamp = ts if ts is not None else str(int(rb.clock.now())).encode()
    r = await raw_request(rb.client.host, rb.client.port,
                          slack_head(path, stamp, sig if sig is not None else b"v0=00", body), body)
    assert r.status == 401, r.body
    assert r.json()["error"]


@pytest.mark.parametrize("path", ["/slack/interactions", "/slack/commands"])
async def test_slack_body_that_is_not_utf8_is_400(fakes: Any, make_runbookd: Any, path: str) -> None:
    """A Slack body that is not UTF-8 cannot be what Slack signed: 400 naming the body, not a 500."""
    rb = await make_runbookd(fakes)
    body = b"payload=\xff\xfe"
    ts = str(int(rb.clock.now()))
    r = await raw_request(rb.client.host, rb.client.port, slack_head(path, ts.encode(), slack_sig(ts, body), body),
                          body)
    assert r.status == 400, r.body
    assert r.json()["field"] == "body"


@pytest.mark.parametrize("path", ["/slack/interactions", "/webhook/pagerduty", "/webhook/alertmanager"])
@pytest.mark.parametrize("gzipped", [False, True], ids=["plain-body", "gzip-body"])
async def test_content_encoding_is_400_before_anything_decodes(fakes: Any, make_runbookd: Any, path: str,
                                                               gzipped: bool) -> None:
    """``Content-Encoding: gzip`` is a 400 JSON error naming the header (plain body or not), never a 500:
    nothing decompresses a request body, and no sender of ours compresses one."""
    rb = await make_runbookd(fakes)
    body = gzip.compress(b'{"version": "4"}') if gzipped else b'{"version": "4"}'
    head = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: " + str(len(body)).encode())
    r = await raw_request(rb.client.host, rb.client.port, head, body)
    assert r.status == 400, r.body
    assert r.json()["field"] == "Content-Encoding"


@pytest.mark.parametrize("sig", ["v1=\u00e9".encode(), b"v1=\xe9", b"v1=", b"v1", b"v0=abc, v1=\xff\xfe"])
async def test_malformed_pagerduty_signature_is_401(fakes: Any, make_runbookd: Any, sig: bytes) -> None:
    """A PagerDuty signature that is not ASCII hex is 401, never a TypeError from ``compare_digest``."""
    rb = await make_runbookd(fakes)
    body = b'{"event": {"event_type": "incident.acknowledged"}}'
    head = (b"POST /webhook/pagerduty HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-PagerDuty-Signature: " + sig + b"\r\nContent-Length: " + str(len(body)).encode())
    r = await raw_request(rb.client.host, rb.client.port, head, body)
    assert r.status == 401, r.body
    good = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    ok = await rb.client.post("/webhook/pagerduty", data=body, headers={"X-PagerDuty-Signature": good})
    assert ok.status == 200
