"""``GET /events``: server-sent events telling open console pages that something changed.

Every ``interval`` seconds the stream reads the store's latest change (``SqlTx.latest_change``: the
newest timeline event's id, of one incident with ``?incident=``: one index lookup) and sends
``event: change`` when it grew. Reading the store, not an in-process signal, makes a change on any
replica reach every open page. A comment is sent every ``keepalive`` seconds so proxies keep the
stream open; after ``lifetime`` seconds the stream ends and the browser's ``EventSource`` reconnects
(bounded handlers, clean shutdowns).
Spec: HTML Living Standard, "Server-sent events".
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from receiver.errors import StoreError
from receiver.store.base import Store


async def stream(request: web.Request, store: Store, *, incident_id: str | None = None, interval: float = 1.0,
                 keepalive: float = 15.0, lifetime: float = 300.0) -> web.StreamResponse:
    """Stream ``change`` events to one page until it goes away or ``lifetime`` (real seconds) passes;
    with ``incident_id``, only changes of that incident (``GET /events?incident=<id>``)."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    last = await store.read(lambda tx: tx.latest_change(incident_id))
    await response.write(f"retry: 2000\nevent: hello\ndata: {last}\n\n".encode())
    started = quiet_since = time.monotonic()
    with contextlib.suppress(ConnectionResetError):
        while time.monotonic() - started < lifetime:
            await asyncio.sleep(interval)  # real time on purpose: it paces a poll, it times nothing
            if request.transport is None or request.transport.is_closing():
                break  # the page went away: end now, so that a shutdown does not wait for us
            try:
                now_change = await store.read(lambda tx: tx.latest_change(incident_id))
            except StoreError:
                continue
            if now_change != last:
                last = now_change
                await response.write(f"event: change\ndata: {last}\n\n".encode())
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= keepalive:
                await response.write(b": keepalive\n\n")
                quiet_since = time.monotonic()
    return response
