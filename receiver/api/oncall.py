"""The admin API of on-call schedules and overrides (docs/escalation.md, "Schedules").

- ``GET /api/v1/oncall[?at=RFC3339&schedule=NAME]`` (viewer): ``{"oncall": [{"schedule", "at", "person",
  "until", "source"}, ...]}``, one per schedule (or the one named), at ``at`` (default now); 400 for a
  bad ``at``, 404 for an unknown schedule.
- ``POST /api/v1/oncall/overrides`` (admin): body ``{"schedule", "person", "starts_at": RFC 3339 (default
  now), "ends_at": RFC 3339 or a duration ("8h"), "reason"}``; 201 with the override; 400 naming the bad
  field. The creator is the token's actor; recorded in the audit log (``oncall.override.created``).
- ``GET /api/v1/oncall/overrides[?schedule=NAME]`` (viewer): ``{"overrides": [...]}`` not yet over,
  soonest start first.
- ``DELETE /api/v1/oncall/overrides/{id}`` (admin): delete it (``oncall.override.deleted``); 404 when unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from receiver.api.auth import ACTOR, acting
from receiver.edge import error_response, json_object
from receiver.oncall import requests
from receiver.oncall.requests import OverrideRequest
from receiver.oncall.resolve import OnCall, on_call
from receiver.store import oncall as rows
from receiver.store.base import Store
from receiver.store.oncall import OverrideRow

_FIELDS = ("schedule", "person", "starts_at", "ends_at", "reason")


async def who_is_on_call(store: Store, ruleset: Any, at: float, schedule: str | None = None) -> list[OnCall]:
    """Who is on call at ``at`` in ``schedule`` (or every schedule of ``ruleset``, by name), with the
    stored overrides; ``KeyError`` for an unknown schedule."""
    names = [schedule] if schedule is not None else sorted(ruleset.schedules)
    scheds = [ruleset.schedules[n] for n in names]
    overrides = await store.read(lambda tx: rows.current(tx, at))
    return [on_call(s, at, overrides, in_interval=ruleset.in_interval) for s in scheds]


async def create_override(store: Store, req: OverrideRequest, *, by: str, now: float) -> OverrideRow:
    """Store ``req`` as a new override by ``by`` (audited in the same transaction)."""
    row = OverrideRow(requests.new_id(), req.schedule, req.person, req.starts_at, req.ends_at, req.reason, by, now)
    await store.transaction(acting(by, lambda tx: rows.insert(tx, row)))
    return row


class OnCallApi:
    """Handlers of ``/api/v1/oncall`` and ``/api/v1/oncall/overrides``; ``rules()`` is the rule set in force."""

    def __init__(self, store: Store, clock: Any, rules: Callable[[], Any]) -> None:
        self.store = store
        self.clock = clock
        self.rules = rules

    def routes(self) -> list[web.RouteDef]:
        """The route table."""
        return [
            web.get("/api/v1/oncall", self.oncall),
            web.post("/api/v1/oncall/overrides", self.create),
            web.get("/api/v1/oncall/overrides", self.listing),
            web.delete("/api/v1/oncall/overrides/{id}", self.delete),
        ]

    async def oncall(self, request: web.Request) -> web.Response:
        """``GET /api/v1/oncall``: who is on call and until when."""
        at = self.clock.now()
        if "at" in request.query:
            try:
                at = requests.parse_time(request.query["at"], "at")
            except ValueError as e:
                return error_response(400, str(e), "at")
        schedule = request.query.get("schedule")
        ruleset = self.rules()
        if schedule is not None and schedule not in ruleset.schedules:
            return error_response(404, f"no schedule {schedule!r}", "schedule")
        found = await who_is_on_call(self.store, ruleset, at, schedule)
        return web.json_response({"oncall": [requests.oncall_json(c) for c in found]})

    async def create(self, request: web.Request) -> web.Response:
        """``POST /api/v1/oncall/overrides``: a person covers a span of a schedule."""
        body = await json_object(request, _FIELDS)
        if isinstance(body, web.Response):
            return body
        now = self.clock.now()
        try:
            req = requests.validate(self.rules().schedules, schedule=body.get("schedule"), person=body.get("person"),
                                    starts_at=body.get("starts_at"), ends_at=body.get("ends_at"), now=now,
                                    reason=body.get("reason", ""))
        except ValueError as e:
            name = str(e).split(":", 1)[0]
            return error_response(400, str(e), name if name in _FIELDS else None)
        row = await create_override(self.store, req, by=request[ACTOR].name, now=now)
        return web.json_response(requests.override_json(row), status=201)

    async def listing(self, request: web.Request) -> web.Response:
        """``GET /api/v1/oncall/overrides``: overrides not yet over."""
        now, schedule = self.clock.now(), request.query.get("schedule")
        found = await self.store.read(lambda tx: rows.current(tx, now, schedule))
        return web.json_response({"overrides": [requests.override_json(o) for o in found]})

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /api/v1/oncall/overrides/{id}``: delete an override."""
        oid, actor, now = request.match_info["id"], request[ACTOR].name, self.clock.now()
        gone = await self.store.transaction(acting(actor, lambda tx: rows.delete(tx, oid, now, actor)))
        if gone is None:
            return error_response(404, f"no override {oid!r}", "id")
        return web.json_response(requests.override_json(gone))
