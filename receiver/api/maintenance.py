"""The admin API of maintenance windows and of Alertmanager silences (docs/maintenance.md).

- ``POST /api/v1/maintenance`` (role admin): body ``{"matchers": ["service=\\"risk\\""], "starts_at":
  RFC 3339 (default now), "ends_at": RFC 3339 | "duration": "2h", "reason": "…"}``; 201 with the window;
  400 naming the bad field. The creator is the token's actor.
- ``GET /api/v1/maintenance`` (viewer): ``{"windows": [...]}`` newest start first, each with ``active``;
  ``GET /api/v1/maintenance/{id}``: one window, 404 when unknown.
- ``DELETE /api/v1/maintenance/{id}`` (admin): end it now; 404 when unknown or already over.
- ``GET /api/v1/incidents/{id}/silences`` (viewer): the Alertmanager silences matching the incident's
  identity labels that are active or pending, as Alertmanager reports them (``GET /api/v2/silences``),
  and the ids runbookd created; 502 when no Alertmanager answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from receiver.api.auth import ACTOR, acting
from receiver.edge import error_response, json_object
from receiver.errors import DeliveryError
from receiver.maintenance import service
from receiver.maintenance.silences import silence_ids
from receiver.store import maintenance as rows
from receiver.store.base import Store

_FIELDS = ("matchers", "starts_at", "ends_at", "duration", "reason")


class MaintenanceApi:
    """Handlers of ``/api/v1/maintenance`` and ``/api/v1/incidents/{id}/silences``.

    ``alertmanager()`` answers the ``AlertmanagerApi`` in force, or ``None`` without ``alertmanager.urls``.
    """

    def __init__(self, store: Store, clock: Any, wake: Callable[[], None],
                 alertmanager: Callable[[], Any] = lambda: None) -> None:
        self.store = store
        self.clock = clock
        self.wake = wake
        self.alertmanager = alertmanager

    def routes(self) -> list[web.RouteDef]:
        """The route table."""
        return [
            web.post("/api/v1/maintenance", self.create),
            web.get("/api/v1/maintenance", self.listing),
            web.get("/api/v1/maintenance/{id}", self.get),
            web.delete("/api/v1/maintenance/{id}", self.end),
            web.get("/api/v1/incidents/{id}/silences", self.silences),
        ]

    async def create(self, request: web.Request) -> web.Response:
        """``POST /api/v1/maintenance``: create a window."""
        body = await json_object(request, _FIELDS)
        if isinstance(body, web.Response):
            return body
        now = self.clock.now()
        try:
            req = service.validate(body.get("matchers"), now=now, starts_at=_text(body, "starts_at"),
                                   ends_at=_text(body, "ends_at"), duration=_text(body, "duration"),
                                   reason=body.get("reason", ""))
        except ValueError as e:
            name = str(e).split(":", 1)[0]
            return error_response(400, str(e), name if name in _FIELDS else None)
        actor = request[ACTOR].name
        w = await self.store.transaction(acting(actor, lambda tx: service.create_window(tx, req, by=actor, now=now)))
        self.wake()
        return web.json_response(service.window_json(w, now), status=201)

    async def listing(self, _: web.Request) -> web.Response:
        """``GET /api/v1/maintenance``: every window, newest start first."""
        now = self.clock.now()
        windows = await self.store.read(lambda tx: rows.listing(tx))
        return web.json_response({"windows": [service.window_json(w, now) for w in windows]})

    async def get(self, request: web.Request) -> web.Response:
        """``GET /api/v1/maintenance/{id}``: one window."""
        wid = request.match_info["id"]
        w = await self.store.read(lambda tx: rows.get(tx, wid))
        if w is None:
            return error_response(404, f"no maintenance window {wid!r}", "id")
        return web.json_response(service.window_json(w, self.clock.now()))

    async def end(self, request: web.Request) -> web.Response:
        """``DELETE /api/v1/maintenance/{id}``: end a window now."""
        wid, actor, now = request.match_info["id"], request[ACTOR].name, self.clock.now()
        w = await self.store.transaction(acting(actor, lambda tx: service.end_window(tx, wid, by=actor, now=now)))
        if w is None:
            return error_response(404, f"no current maintenance window {wid!r}", "id")
        self.wake()
        return web.json_response(service.window_json(w, now))

    async def silences(self, request: web.Request) -> web.Response:
        """``GET /api/v1/incidents/{id}/silences``: Alertmanager's silences of the incident."""
        iid = request.match_info["id"]
        inc = await self.store.read(lambda tx: tx.get_incident(iid))
        if inc is None:
            return error_response(404, f"no incident {iid!r}", "id")
        ours = await self.store.read(lambda tx: silence_ids(tx, inc))
        api = self.alertmanager()
        if api is None:
            return web.json_response({"silences": [], "created_by_runbookd": ours,
                                      "note": "alertmanager.urls is not set"})
        try:
            found = await api.silences(inc.labels)
        except DeliveryError as e:
            return error_response(502, f"Alertmanager: {e.reason}")
        shown = [s for s in found if s.get("status", {}).get("state") in ("active", "pending")]
        return web.json_response({"silences": shown, "created_by_runbookd": ours})


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise ValueError(f"{name}: expected a string")
    return str(value)
