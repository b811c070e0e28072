"""``FakePagerDuty``: the PagerDuty Events API v2 enqueue endpoint.

Follows https://developer.pagerduty.com/docs/events-api-v2/trigger-events/: ``POST /v2/enqueue``
with a JSON event; 202 ``{"status": "success", "message": "Event processed", "dedup_key": …}`` or
400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakes.base import RECORD, FakeApp

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


class FakePagerDuty(FakeApp):
    """Fake Events API v2. ``events`` lists accepted events; ``alerts`` maps dedup_key → last action."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.alerts: dict[str, str] = {}
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register ``POST /v2/enqueue``."""
        router.add_post("/v2/enqueue", self._enqueue)

    def reset_state(self) -> None:
        """Forget accepted events."""
        self.events.clear()
        self.alerts.clear()

    def failure_body(self, status: int) -> Any:
        """PagerDuty's error shape."""
        if status == 429:
            return {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly.",
            }
        return {"status": "error", "message": f"injected failure {status}"}

    async def _enqueue(self, request: web.Request) -> web.Response:
        event = request[RECORD]["json"]
        errors = _validate(event)
        if errors:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status=400,
            )
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        self.events.append(event)
        self.alerts[dedup_key] = event["event_action"]
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=202
        )


def _validate(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event must be a JSON object"]
    errors = []
    if not event.get("routing_key"):
        errors.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge or resolve)")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            for key in ("summary", "source"):
                if not payload.get(key):
                    errors.append(f"'payload.{key}' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of critical, error, warning or info)")
            if len(str(payload.get("summary", ""))) > 1024:
                errors.append("'payload.summary' is longer than 1024 characters")
    return errors
