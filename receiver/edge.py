"""The HTTP edge every endpoint shares: JSON error bodies, the body read timeout, and no bare 500.

``edge_middleware`` runs outermost. It refuses (400) a NUL or undecodable bytes in the path or query
(PostgreSQL text cannot hold them) and any ``Content-Encoding`` but identity (``build_app`` turns
aiohttp's decompression off, so a body that is not what its header says never reaches a decoder
that raises; Alertmanager, Slack and PagerDuty send plain bodies). It arms the body read timeout
(``webhook.read_timeout`` seconds, real time: it bounds a network read, not a domain timer) and
answers a body that does not arrive in time with 408. Any other exception a handler lets escape is
logged and answered 500 with a JSON body like every other error (DESIGN.md: ``{"error", "field"}``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Collection
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestPayloadError

log = structlog.get_logger("runbookd.edge")
# U+0000 (PostgreSQL text cannot hold it) and lone surrogates (not encodable as UTF-8; json.loads makes them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(value: object) -> str:
    """``str(value)`` with U+0000 and lone surrogates replaced by U+FFFD, so that any store can hold it."""
    return _UNSTORABLE.sub("\ufffd", value if isinstance(value, str) else str(value))


def _clean(obj: Any) -> Any:
    if isinstance(obj, str):
        return clean_text(obj) if _UNSTORABLE.search(obj) else obj
    if isinstance(obj, dict):
        return {_clean(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def load_json(raw: bytes | str) -> Any:
    """``json.loads`` for request bodies of the Slack, PagerDuty and admin endpoints.

    Every string comes back storable (``clean_text``). Raises ``ValueError`` for anything that is not
    JSON, including nesting too deep for the parser and integers of more than 4,300 digits.
    """
    try:
        return _clean(json.loads(raw))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def error_response(status: int, error: str, field: str | None = None, **headers: str) -> web.Response:
    """A JSON error body ``{"error": …, "field": …}`` with ``status``."""
    return web.json_response({"error": error, "field": field}, status=status, headers=headers or None)


async def json_object(request: web.Request, fields: Collection[str]) -> dict[str, Any] | web.Response:
    """The request's body as a JSON object whose keys are all in ``fields``, or the 400 answer naming
    what is wrong (not JSON, not an object, the first unknown field). NULs are cleaned as ``load_json``."""
    try:
        body = load_json(await request.read())
    except ValueError:
        return error_response(400, "body must be JSON")
    if not isinstance(body, dict):
        return error_response(400, "body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        return error_response(400, f"unknown field {unknown[0]!r}", unknown[0])
    return body


class BodyTimeout(asyncio.TimeoutError):
    """Set on a request's body stream when it has not fully arrived within the read timeout.

    A ``TimeoutError`` so that aiohttp, draining an unread body after the answer, closes the
    connection quietly instead of logging an unhandled exception.
    """


def body_error_response(e: BaseException) -> web.Response | None:
    """The answer to an exception raised while reading a request body, or ``None`` if it is not one.

    408 (``BodyTimeout``), 400 (a body that does not decode as its ``Content-Encoding``), 413 (over
    aiohttp's ``client_max_size``). The 408 closes the connection: the rest of the body is unread.
    """
    if isinstance(e, BodyTimeout):
        resp = error_response(408, str(e) or "request body not received in time")
        resp.force_close()
        return resp
    if isinstance(e, RequestPayloadError):
        return error_response(400, f"body cannot be read: {str(e).replace(chr(10), ' ').strip()}")
    if isinstance(e, web.HTTPRequestEntityTooLarge):
        return error_response(413, "request body too large")
    return None


async def read_bounded(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or ``None`` once it exceeds ``limit`` bytes (read no further).

    ``request.content.read(n)`` returns as soon as *some* bytes arrived, which truncates a body that
    comes in several TCP segments; this reads to the end. Raises as the body stream does
    (``BodyTimeout``, ``RequestPayloadError``).
    """
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _bad_target(request: web.Request) -> tuple[str, str] | None:
    if _UNSTORABLE.search(request.path):
        return "path", "NUL or undecodable bytes in the request path"
    for key, value in request.query.items():
        if _UNSTORABLE.search(key) or _UNSTORABLE.search(value):
            return f"query.{clean_text(key)}", "NUL or undecodable bytes in a query parameter"
    return None


def _expire(request: web.Request, timeout: float) -> None:
    if not request.content.is_eof():
        request.content.set_exception(BodyTimeout(f"request body not received within {timeout:g} s "
                                                  "(webhook.read_timeout)"))


class _ParserErrorsInOneLine(logging.Filter):
    """Logs a request that aiohttp's HTTP parser refused (a request line over 8,190 bytes, a malformed
    header) as one warning line instead of an error with a traceback: hostile input, not a defect."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            text = f"{record.getMessage()}: refused by the HTTP parser ({exc.code}): {str(exc.message)[:200]}"
            record.msg, record.args = text, None
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_parser_errors() -> None:
    """Install ``_ParserErrorsInOneLine`` on aiohttp's server logger (once per process)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ParserErrorsInOneLine) for f in logger.filters):
        logger.addFilter(_ParserErrorsInOneLine())


def edge_middleware(read_timeout: float) -> Middleware:
    """The outermost middleware (see the module docstring); ``read_timeout`` in seconds."""

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        bad = _bad_target(request)
        if bad is not None:
            return error_response(400, bad[1], bad[0])
        coding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if coding not in ("", "identity"):
            return error_response(400, f"Content-Encoding {clean_text(coding)[:40]!r} is not accepted: send the "
                                  "body uncompressed", "Content-Encoding")
        timer = None
        if request.body_exists and not request.content.is_eof():
            timer = asyncio.get_running_loop().call_later(read_timeout, _expire, request, read_timeout)
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            keep = {k: v for k, v in e.headers.items() if k.lower() in ("allow", "www-authenticate")}
            return error_response(e.status, e.reason, **keep)
        except Exception as e:
            resp = body_error_response(e)
            if resp is None:
                log.exception("unhandled error; answering 500", path=request.path, method=request.method)
                resp = error_response(500, "internal error")
            return resp
        finally:
            if timer is not None:
                timer.cancel()

    return edge
