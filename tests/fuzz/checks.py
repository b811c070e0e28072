"""Send a fuzz ``Case`` over a raw socket and check its answer against the rules every answer obeys."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

from tests.fuzz.strategies import Case


@dataclass
class Answer:
    """Status, lower-cased headers and body of one HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes


def send(host: str, port: int, case: Case, timeout: float = 30.0) -> Answer:
    """Send ``case`` on a new connection (``Content-Length`` and ``Connection: close`` added); read the answer."""
    head = case.method + b" " + case.target + b" HTTP/1.1\r\nHost: fuzz\r\n"
    seen = set()
    for k, v in case.headers:
        if k.lower() in seen:  # aiohttp's parser refuses a repeated singleton header (plain 400, before our code)
            continue
        seen.add(k.lower())
        head += k + b": " + v + b"\r\n"
    head += b"Content-Length: " + str(len(case.body)).encode() + b"\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(head + case.body)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:  # the server answered early and closed: what it sent is kept
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    n = int(headers.get("content-length", len(rest)))
    return Answer(int(lines[0].split()[1]), headers, rest[:n])


def problems(case: Case, answer: Answer) -> list[str]:
    """What is wrong with ``answer`` to ``case``: empty when it obeys every rule.

    Rules: no status >= 500 (the fuzz never takes the store down, so not even 503); every 4xx body
    (but HEAD's) is a JSON object with a non-empty ``error`` string and a ``field`` key (a string or
    null); the case's own expectations of status and field.
    """
    out = []
    if answer.status >= 500:
        out.append(f"status {answer.status}")
    body: Any = None
    if answer.status >= 400 and case.method != b"HEAD":
        try:
            body = json.loads(answer.body)
        except ValueError:
            out.append(f"{answer.status} body is not JSON: {answer.body[:200]!r}")
        else:
            if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"]:
                out.append(f"{answer.status} body has no error: {body!r}")
            elif "field" not in body or not isinstance(body["field"], str | None):
                out.append(f"{answer.status} body has no field key: {body!r}")
    if case.expect_status is not None and answer.status != case.expect_status:
        out.append(f"expected {case.expect_status}, got {answer.status}: {answer.body[:300]!r}")
    if case.expect_field is not None and isinstance(body, dict):
        got = body.get("field")
        want = case.expect_field
        if not isinstance(got, str) or not (got == want or got.startswith((want + ".", want + "["))):
            out.append(f"expected field {want!r}, got {got!r} ({body.get('error')!r})")
    return out
