"""A raw HTTP/1.1 client for tests that must send bytes no HTTP library would (non-UTF-8 headers, partial bodies)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    """Status, headers (lower-case names) and body of one answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_request(host: str, port: int, head: bytes, body: bytes = b"", *, timeout: float = 30.0) -> RawResponse:
    """Send ``head`` (request line and headers, no final blank line) and ``body``; read one answer."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head.rstrip(b"\r\n") + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    return parse_response(data)


def parse_response(data: bytes) -> RawResponse:
    """Parse one HTTP/1.1 answer (Content-Length or read to close)."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    n = int(headers.get("content-length", len(rest)))
    return RawResponse(status, headers, rest[:n])
