"""``action: http`` — one HTTP request to an operator-configured URL (the trading system's admin API).

Parameters arrive already rendered by the playbook (``receiver.rules.model.HttpStep``): ``method``
(default POST), ``url``, ``headers`` (str → str) and ``json`` (any JSON value, or None for no body).
They are sent as they are: label values inside them are data and are never rendered again.

Retries (tenacity): idempotent methods (GET, HEAD, PUT, DELETE; POST only with ``idempotent:
true``) are tried up to ``retries`` times in all (default 3) with exponential backoff
(``backoff`` × 1, 2, 4 … seconds, at most 10 s apart), on retryable failures only: transport
errors, time-outs, 5xx and 429 (STYLE.md). All attempts together stay within the step's timeout.
Result check: ``expect_status`` (list of codes; default any 2xx) and ``expect_json`` (``{"dotted.path":
value}`` compared with the JSON answer); a mismatch is not retryable.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_before_delay, wait_exponential

from receiver.actions.base import ActionResult
from receiver.config.http_actions import DEFAULT_PORTS, HostAllowList
from receiver.errors import ActionError, classify_status

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
#: How much of a response body is kept for the timeline, in characters.
RESPONSE_EXCERPT = 2000
_ERROR_EXCERPT = 300
_SECRET_HEADER_WORDS = ("authorization", "token", "secret", "key", "cookie", "password")
#: Methods that are retried without asking (RFC 9110 idempotent methods that runbookd sends).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
_MAX_WAIT = 10.0
_MAX_RETRIES = 10
Sleep = Callable[[float], Awaitable[None]]


class HttpAction:
    """Sends one HTTP request with a shared ``httpx.AsyncClient``, retries it when safe, checks the answer.

    ``idempotent`` is True: the shipped uses (stop trading, enable circuit breakers, stop feeds,
    halt) are commands whose second call changes nothing, so a step cut off by a crash is retried.
    A rule that points ``http`` at a non-idempotent endpoint should use an idempotency key of its
    own in ``headers``. ``sleep`` (default ``asyncio.sleep``) waits between attempts; tests pass
    one that records instead of sleeping. ``allowed`` (``actions.http.allowed_hosts``) is checked on
    the rendered URL before anything is sent, dry-run included; ``None`` allows every host.
    """

    idempotent = True

    def __init__(self, client: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep,
                 allowed: HostAllowList | None = None) -> None:
        self._client = client
        self._sleep = sleep
        self._allowed = allowed

    async def run(self, params: dict[str, Any], *, dry_run: bool, timeout: float) -> ActionResult:
        """Send ``params`` as one request (retried when safe), bounded by ``timeout`` seconds in total.

        ``params`` besides ``method``, ``url``, ``headers``, ``json``: ``retries`` (attempts in
        all, 1-10, default 3), ``backoff`` (seconds, default 0.5), ``idempotent`` (POST only:
        retry it too), ``expect_status`` (list of codes), ``expect_json`` (``{"a.b": value}``).

        Returns ``ActionResult("ok", "POST <url> -> 200", {"status", "response", "attempts", "json"})``
        (``response``: the first 2000 characters of the body; ``json``: the body parsed, or None when
        it is not JSON or longer than that); ``skipped`` when ``url`` has no
        scheme or host (its integration is not configured); ``dry_run`` without sending anything,
        with the request (secret-looking header values redacted) in ``data["request"]``.

        Raises ``ActionError``: an unexpected status (``retryable`` per ``classify_status``; a 2xx
        not in ``expect_status`` is not), reason with the status, a body excerpt and the attempts;
        transport errors and time-outs (retryable; "outcome unknown" for a time-out); a host and port
        that ``allowed`` does not list (not retryable, nothing sent, dry-run too); an
        ``expect_json`` mismatch (not retryable, e.g. "expected status.halted == true, got
        false"); an unknown method, a header value with a line break or a bad retry or check
        parameter (not retryable, nothing sent).
        """
        method = str(params.get("method") or "POST").upper()
        url = str(params.get("url") or "").strip()
        headers = params.get("headers") or {}
        body = params.get("json")

        problem = _url_problem(url)
        if problem:
            return ActionResult("skipped", f"url not configured: {problem}", {"url": url})
        target = httpx.URL(url)
        if self._allowed is not None and not self._allowed.allows(target):
            port = target.port or DEFAULT_PORTS.get(target.scheme)
            raise ActionError(f"{target.host}:{port} is not in actions.http.allowed_hosts ({self._allowed}): "
                              "not sent", retryable=False)
        if method not in METHODS:
            raise ActionError(f"unsupported HTTP method {method!r}", retryable=False)
        clean_headers = _check_headers(headers)
        attempts_max, backoff = _retry_policy(params, method)
        expect_status, expect_json = _expectations(params)

        if dry_run:
            request: dict[str, Any] = {
                "method": method,
                "url": url,
                "headers": _redacted(clean_headers),
                "json": body,
                "attempts": attempts_max,
            }
            if expect_status is not None:
                request["expect_status"] = sorted(expect_status)
            if expect_json:
                request["expect_json"] = expect_json
            return ActionResult("dry_run", f"would {method} {url}", {"request": request})

        deadline = time.monotonic() + timeout
        attempts = 0

        async def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            resp = await self._send(method, url, clean_headers, body, max(deadline - time.monotonic(), 0.001))
            if not _status_ok(resp.status_code, expect_status):
                excerpt = resp.text[:_ERROR_EXCERPT].strip()
                reason = f"{method} {url} -> {resp.status_code}" + (f": {excerpt}" if excerpt else "")
                if resp.is_success:
                    raise ActionError(f"expected status {_codes(expect_status)}, got {reason}", retryable=False)
                raise ActionError(reason, retryable=classify_status(resp.status_code))
            return resp

        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts_max) | stop_before_delay(timeout),
            wait=wait_exponential(multiplier=backoff, max=_MAX_WAIT),
            retry=retry_if_exception(lambda e: isinstance(e, ActionError) and e.retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            resp: httpx.Response = await retrying(attempt)
        except ActionError as e:
            if attempts > 1:
                raise ActionError(f"{e.reason} (after {attempts} attempts)", retryable=e.retryable) from e
            raise

        text = resp.text
        if expect_json:
            _check_json(method, url, text, expect_json)
        return ActionResult(
            "ok",
            f"{method} {url} -> {resp.status_code}",
            {"status": resp.status_code, "response": text[:RESPONSE_EXCERPT], "attempts": attempts,
             "json": _json_or_none(text)},
        )

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: Any, timeout: float
    ) -> httpx.Response:
        """One request within ``timeout`` seconds; transport errors become retryable ``ActionError``."""
        kwargs: dict[str, Any] = {"headers": headers, "timeout": timeout}
        if body is not None:
            kwargs["json"] = body
        try:
            async with asyncio.timeout(timeout):
                return await self._client.request(method, url, **kwargs)
        except (TimeoutError, httpx.TimeoutException) as e:
            raise ActionError(f"{method} {url}: no answer within {timeout:g}s; outcome unknown", retryable=True) from e
        except httpx.HTTPError as e:
            raise ActionError(f"{method} {url}: {type(e).__name__}: {e}", retryable=True) from e


def _retry_policy(params: dict[str, Any], method: str) -> tuple[int, float]:
    """(attempts in all, backoff multiplier in seconds): 1 attempt for PATCH and non-idempotent POST."""
    retries = params.get("retries")
    retries = DEFAULT_RETRIES if retries is None else retries
    backoff = params.get("backoff")
    backoff = DEFAULT_BACKOFF if backoff is None else backoff
    try:
        if isinstance(retries, bool) or isinstance(backoff, bool):
            raise ValueError
        retries, backoff = int(str(retries)), float(str(backoff))
    except ValueError:
        raise ActionError("retries must be a whole number and backoff a number of seconds", retryable=False) from None
    if not 1 <= retries <= _MAX_RETRIES or not 0 <= backoff <= _MAX_WAIT:
        raise ActionError(
            f"retries must be 1-{_MAX_RETRIES} (attempts in all) and backoff 0-{_MAX_WAIT:g} seconds", retryable=False
        )
    idempotent = method in IDEMPOTENT_METHODS or (method == "POST" and _truthy(params.get("idempotent")))
    return (retries if idempotent else 1), backoff


def _truthy(value: Any) -> bool:
    """A boolean parameter that may have been rendered to text (``"true"``, ``"1"``, ``"yes"``)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return value is True


def _expectations(params: dict[str, Any]) -> tuple[frozenset[int] | None, dict[str, Any]]:
    """``expect_status`` as a set (None: any 2xx) and ``expect_json``; malformed ones are refused."""
    raw_status = params.get("expect_status")
    status: frozenset[int] | None = None
    if raw_status is not None:
        items = raw_status if isinstance(raw_status, list) else [raw_status]
        try:
            codes = [int(str(c)) for c in items if not isinstance(c, bool)]
        except ValueError:
            codes = []
        if not items or len(codes) != len(items) or not all(100 <= c <= 599 for c in codes):
            raise ActionError(f"expect_status must be a list of HTTP status codes, got {raw_status!r}", retryable=False)
        status = frozenset(codes)
    expect_json = params.get("expect_json") or {}
    if not isinstance(expect_json, dict) or not all(isinstance(k, str) and k for k in expect_json):
        raise ActionError("expect_json must map dotted paths (e.g. status.halted) to values", retryable=False)
    return status, expect_json


def _status_ok(status: int, expected: frozenset[int] | None) -> bool:
    return 200 <= status < 300 if expected is None else status in expected


def _codes(expected: frozenset[int] | None) -> str:
    return "2xx" if expected is None else " or ".join(str(c) for c in sorted(expected))


_ABSENT = object()


def _lookup(doc: Any, path: str) -> Any:
    """The value at ``path`` (``a.b.0.c``: keys of objects, indexes of arrays) or ``_ABSENT``."""
    node = doc
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _ABSENT
    return node


def _json_or_none(text: str) -> Any:
    """The JSON answer (for ``steps.NAME.result.data.json``) when it parses and is at most
    ``RESPONSE_EXCERPT`` characters; else ``None``."""
    if len(text) > RESPONSE_EXCERPT:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _json_equal(got: Any, want: Any) -> bool:
    """JSON equality: ``true`` is not ``1``; ``1`` equals ``1.0``; objects and arrays compare deeply."""
    if isinstance(got, bool) or isinstance(want, bool):
        return isinstance(got, bool) and isinstance(want, bool) and got == want
    if isinstance(got, int | float) and isinstance(want, int | float):
        return got == want
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(_json_equal(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_json_equal(got[k], want[k]) for k in got)
    return type(got) is type(want) and got == want


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 100 else text[:100] + "…"


def _check_json(method: str, url: str, text: str, expected: dict[str, Any]) -> None:
    """Raise ``ActionError`` (not retryable) unless every ``expected`` path holds its value."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise ActionError(
            f"{method} {url}: expected a JSON answer to check, got {text[:_ERROR_EXCERPT].strip()!r}", retryable=False
        ) from None
    for path, want in expected.items():
        got = _lookup(doc, path)
        if got is _ABSENT:
            raise ActionError(f"expected {path} == {_shown(want)}, but the answer has no {path}", retryable=False)
        if not _json_equal(got, want):
            raise ActionError(f"expected {path} == {_shown(want)}, got {_shown(got)}", retryable=False)


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
