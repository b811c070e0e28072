"""``POST /webhook/alertmanager``: authenticate, bound, parse, commit, answer.

Status codes (DESIGN.md): 200 once every alert is committed; 400 malformed (JSON body names the
field), also when the store refuses this request's data alone (``StoreRejected``); 401 missing or
wrong credentials; 408 body not received within ``webhook.read_timeout``; 413 body over
``webhook.max_body_bytes``; 503 when the store cannot commit (Alertmanager retries). Every answer,
a 500 from a defect included, is counted in ``runbookd_webhook_requests_total{code}``. Nothing
after the commit can fail the request: actions and notifications run later from rows in the store,
so a failing channel never makes Alertmanager re-send.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from receiver.auth import basic_ok, bearer_ok
from receiver.edge import body_error_response, error_response, read_bounded
from receiver.errors import PayloadError, StoreError, StoreRejected
from receiver.ingest.payload import Repairs, parse_payload, to_records
from receiver.metrics import Metrics
from receiver.settings import WebhookConfig
from receiver.store.base import Store

log = structlog.get_logger("runbookd.ingest")


__all__ = ["WebhookHandler", "error_response"]


class WebhookHandler:
    """The aiohttp handler of Alertmanager's webhook."""

    def __init__(self, config: WebhookConfig, store: Store, metrics: Metrics, clock: Any,
                 on_committed: Callable[[], None]) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.on_committed = on_committed
        # Label children looked up once, not per request.
        self._firing = metrics.alerts_received.labels(status="firing")
        self._resolved = metrics.alerts_received.labels(status="resolved")
        self._codes: dict[int, Any] = {}

    def _authorized(self, request: web.Request) -> bool:
        auth = self.config.auth
        header = request.headers.get("Authorization")
        if auth.bearer_token:
            return bearer_ok(header, auth.bearer_token)
        if auth.basic is not None:
            return basic_ok(header, auth.basic.username, auth.basic.password or "")
        return True

    async def _read(self, request: web.Request) -> bytes | None:
        limit = self.config.max_body_bytes
        if request.content_length is not None:
            # The parser never reads past Content-Length, so the bound is already checked.
            return None if request.content_length > limit else await request.read()
        return await read_bounded(request, limit)

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one webhook request (see the module docstring for the status codes)."""
        t0 = time.perf_counter()
        try:
            resp = await self._handle(request)
        except web.HTTPException as e:
            resp = error_response(e.status, e.reason)
        except Exception as e:  # counted like any answer; the edge middleware would answer the same
            found = body_error_response(e)
            if found is None:
                log.exception("webhook failed; answering 500", remote=request.remote)
                found = error_response(500, "internal error")
            resp = found
        self.metrics.webhook_duration.observe(time.perf_counter() - t0)
        counter = self._codes.get(resp.status)
        if counter is None:
            counter = self._codes[resp.status] = self.metrics.webhook_requests.labels(code=str(resp.status))
        counter.inc()
        return resp

    def _note(self, repairs: Repairs, request: web.Request) -> None:
        for where, n in repairs.nul_replaced.items():
            self.metrics.webhook_nul_replaced.labels(field=where).inc(n)
        for reason in repairs.legacy:
            self.metrics.webhook_legacy_bodies.labels(reason=reason).inc()
        if repairs.nul_replaced:
            log.warning("NUL replaced by U+FFFD in webhook body", fields=repairs.nul_replaced, remote=request.remote)

    async def _handle(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return error_response(401, "missing or wrong credentials", None,
                                  **{"WWW-Authenticate": 'Bearer realm="runbookd"'})
        body = await self._read(request)
        if body is None:
            return error_response(413, f"body larger than webhook.max_body_bytes ({self.config.max_body_bytes})")
        repairs = Repairs()
        try:
            payload = parse_payload(body, repairs)
        except PayloadError as e:
            log.info("webhook rejected", error=e.message, field=e.field, remote=request.remote)
            return error_response(400, e.message, e.field)
        self._note(repairs, request)
        records = to_records(payload)
        now = self.clock.now()
        try:  # the store records the dead man's switch heartbeat in this same commit
            changed = await self.store.ingest(records, now)
        except StoreRejected as e:
            log.error("store refused this request's data; answering 400", error=str(e), remote=request.remote)
            return error_response(400, f"the store cannot hold this body: {e}")
        except StoreError as e:
            log.error("store cannot commit; answering 503", error=str(e))
            return error_response(503, "store unavailable, retry later")
        firing = sum(1 for r in records if r.status == "firing")
        if firing:
            self._firing.inc(firing)
        if len(records) - firing:
            self._resolved.inc(len(records) - firing)
        if payload.truncatedAlerts:
            self.metrics.alerts_truncated.inc(payload.truncatedAlerts)
            log.warning("alertmanager truncated alerts", truncated=payload.truncatedAlerts,
                        group_key=payload.groupKey)
        if changed:
            self.on_committed()
        return web.Response(body=b'{"status":"ok","alerts":%d,"changed":%d}' % (len(records), changed),
                            content_type="application/json")
