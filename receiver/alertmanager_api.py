"""A small client of Alertmanager's API v2 silences (https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml).

``POST /api/v2/silences`` (body: ``matchers``, ``startsAt``, ``endsAt``, ``createdBy``, ``comment``;
answer ``{"silenceID"}``), ``DELETE /api/v2/silence/{id}`` (expire) and ``GET /api/v2/silences``.
``urls`` is the HA pair (or more) of ``alertmanager.urls``: the members gossip silences to each other,
so a write goes to the first member that takes it and a read to the first that answers. Failures are
``DeliveryError``: transport errors, 5xx and 429 retryable, other 4xx not (receiver.errors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from receiver.errors import DeliveryError, parse_retry_after
from receiver.rules.matchers import go_quote


def api_matchers(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Equality matchers of API v2 (``name``, ``value``, ``isRegex`` false, ``isEqual`` true) for ``labels``."""
    return [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(labels.items())]


def from_matchers(matchers: Sequence[Any]) -> list[dict[str, Any]]:
    """API v2 matchers of parsed ``receiver.rules.matchers.Matcher`` objects (``=``, ``!=``, ``=~``, ``!~``)."""
    return [{"name": m.name, "value": m.value, "isRegex": m.op in ("=~", "!~"), "isEqual": m.op in ("=", "=~")}
            for m in matchers]


class AlertmanagerApi:
    """Alertmanager silences over one shared ``httpx.AsyncClient``; ``timeout`` seconds per request."""

    def __init__(self, urls: Sequence[str], http: httpx.AsyncClient, timeout: float = 5.0) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.http = http
        self.timeout = timeout

    async def _each(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The first 2xx answer of the members in order; raises the last member's ``DeliveryError``."""
        last = DeliveryError("alertmanager.urls is empty", retryable=False)
        for base in self.urls:
            try:
                r = await self.http.request(method, f"{base}{path}", timeout=self.timeout, **kw)
            except httpx.HTTPError as e:
                last = DeliveryError(f"{base}: {type(e).__name__}: {e}", retryable=True,
                                     unknown=not isinstance(e, httpx.ConnectError))
                continue
            if r.is_success:
                return r
            retryable = r.status_code >= 500 or r.status_code == 429
            last = DeliveryError(f"{base}: HTTP {r.status_code}: {r.text[:200]}", retryable=retryable,
                                 retry_after=parse_retry_after(r.headers.get("Retry-After")))
            if not retryable and r.status_code != 404:
                raise last  # the request is wrong: another member would refuse it too
        raise last

    async def create(self, silence: Mapping[str, Any]) -> str:
        """Create a silence; returns its id. Raises ``DeliveryError``."""
        r = await self._each("POST", "/api/v2/silences", json=dict(silence))
        try:
            return str(r.json()["silenceID"])
        except (ValueError, KeyError, TypeError) as e:
            raise DeliveryError(f"unexpected answer to POST /api/v2/silences: {r.text[:200]}", retryable=False) from e

    async def expire(self, silence_id: str) -> None:
        """Expire silence ``silence_id``; one already expired or unknown counts as done. Raises ``DeliveryError``."""
        try:
            await self._each("DELETE", f"/api/v2/silence/{silence_id}")
        except DeliveryError as e:
            if "already expired" in e.reason or "HTTP 404" in e.reason:
                return
            raise

    async def silences(self, labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Silences (every state), filtered by equality on ``labels`` when given. Raises ``DeliveryError``."""
        params = [("filter", f"{k}={go_quote(v)}") for k, v in sorted((labels or {}).items())]
        r = await self._each("GET", "/api/v2/silences", params=params)
        body = r.json()
        return body if isinstance(body, list) else []
