"""``action: http`` — one HTTP request to an operator-configured URL (the trading system's admin API).

Parameters arrive already rendered by the playbook (``receiver.rules.model.HttpStep``): ``method``
(default POST), ``url``, ``headers`` (str → str) and ``json`` (any JSON value, or None for no body).
They are sent as they are: label values inside them are data and are never rendered again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from receiver.actions.base import ActionResult
from receiver.errors import ActionError, classify_status

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
#: How much of a response body is kept for the timeline, in characters.
RESPONSE_EXCERPT = 2000
_ERROR_EXCERPT = 300
_SECRET_HEADER_WORDS = ("authorization", "token", "secret", "key", "cookie", "password")


class HttpAction:
    """Sends one HTTP request with a shared ``httpx.AsyncClient`` and classifies the answer.

    ``idempotent`` is True: the shipped uses (stop trading, enable circuit breakers, stop feeds,
    halt) are commands whose second call changes nothing, so a step cut off by a crash is retried.
    A rule that points ``http`` at a non-idempotent endpoint should use an idempotency key of its
    own in ``headers``.
    """

    idempotent = True

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def run(self, params: dict[str, Any], *, dry_run: bool, timeout: float) -> ActionResult:
        """Send ``params`` as one request, bounded by ``timeout`` seconds in total.

        Returns ``ActionResult("ok", "POST <url> -> 200", {"status", "response"})`` for a 2xx
        (``response``: the first 2000 characters of the body); ``skipped`` when ``url`` has no
        scheme or host (its integration is not configured); ``dry_run`` without sending anything,
        with the request (secret-looking header values redacted) in ``data["request"]``.

        Raises ``ActionError``: non-2xx (``retryable`` per ``classify_status``, reason with the
        status and a body excerpt); transport errors and timeouts (retryable: the call is
        idempotent); an unknown method or a header value with a line break (not retryable).
        """
        method = str(params.get("method") or "POST").upper()
        url = str(params.get("url") or "").strip()
        headers = params.get("headers") or {}
        body = params.get("json")

        problem = _url_problem(url)
        if problem:
            return ActionResult("skipped", f"url not configured: {problem}", {"url": url})
        if method not in METHODS:
            raise ActionError(f"unsupported HTTP method {method!r}", retryable=False)
        clean_headers = _check_headers(headers)

        if dry_run:
            request = {"method": method, "url": url, "headers": _redacted(clean_headers), "json": body}
            return ActionResult("dry_run", f"would {method} {url}", {"request": request})

        kwargs: dict[str, Any] = {"headers": clean_headers, "timeout": timeout}
        if body is not None:
            kwargs["json"] = body
        try:
            async with asyncio.timeout(timeout):
                resp = await self._client.request(method, url, **kwargs)
        except (TimeoutError, httpx.TimeoutException) as e:
            raise ActionError(f"{method} {url}: no answer within {timeout:g}s; outcome unknown", retryable=True) from e
        except httpx.HTTPError as e:
            raise ActionError(f"{method} {url}: {type(e).__name__}: {e}", retryable=True) from e

        text = resp.text
        if not resp.is_success:
            excerpt = text[:_ERROR_EXCERPT].strip()
            reason = f"{method} {url} -> {resp.status_code}" + (f": {excerpt}" if excerpt else "")
            raise ActionError(reason, retryable=classify_status(resp.status_code))
        return ActionResult(
            "ok",
            f"{method} {url} -> {resp.status_code}",
            {"status": resp.status_code, "response": text[:RESPONSE_EXCERPT]},
        )


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be called (empty, no http(s) scheme, no host), or None when it can."""
    if not url:
        return "the url is empty"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return f"{url!r} is not a valid URL"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"{url!r} has no http(s) scheme and host"
    return None


def _check_headers(headers: Any) -> dict[str, str]:
    """Headers as str → str; a line break in a name or value (header injection) is refused."""
    if not isinstance(headers, dict):
        raise ActionError("headers must be a mapping of names to values", retryable=False)
    out: dict[str, str] = {}
    for name, value in headers.items():
        n, v = str(name), "" if value is None else str(value)
        if any(c in n + v for c in "\r\n\0") or not n.strip():
            raise ActionError(f"header {n!r} has an invalid name or value", retryable=False)
        out[n] = v
    return out


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    """A copy with the values of credential-looking headers replaced, for the timeline."""
    return {k: "<redacted>" if any(w in k.lower() for w in _SECRET_HEADER_WORDS) else v for k, v in headers.items()}
