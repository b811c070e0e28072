"""Helpers of the maintenance tests: an in-process runbookd on tests/testdata/rules/maintenance.yml."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import backend, pg_schema  # fixtures: each store
from tests.conftest import TESTDATA, alert, payload
from tests.incidents.test_pipeline import pd_events, top_level_pages

RULES = [str(TESTDATA / "rules" / "maintenance.yml")]
RISK = dict(fingerprint="1111aaaa2222bbbb")
FEED = dict(fingerprint="3333cccc4444dddd")

__all__ = ["backend", "pg_schema", "RULES", "RISK", "FEED", "alert", "payload", "pd_events", "top_level_pages",
           "kinds", "events", "create_window", "fire"]


async def events(rb: Any, iid: str, kind: str) -> list[dict[str, Any]]:
    """The timeline events of ``kind`` of incident ``iid``."""
    return [e for e in (await rb.api(f"/api/v1/incidents/{iid}"))["timeline"] if e["kind"] == kind]


async def kinds(rb: Any, iid: str) -> list[str]:
    """The kinds of incident ``iid``'s timeline, oldest first."""
    return [e["kind"] for e in (await rb.api(f"/api/v1/incidents/{iid}"))["timeline"]]


async def create_window(rb: Any, matchers: list[str], duration: str = "1h", reason: str = "risk upgrade",
                        **extra: Any) -> dict[str, Any]:
    """``POST /api/v1/maintenance`` with the admin token; asserts 201 and returns the window."""
    r = await rb.api_post("/api/v1/maintenance", {"matchers": matchers, "duration": duration, "reason": reason,
                                                  **extra})
    assert r.status == 201, await r.text()
    out: dict[str, Any] = await r.json()
    return out


async def fire(rb: Any, name: str, **labels: Any) -> dict[str, Any]:
    """Post one firing alert, run what is due, and return its incident."""
    await rb.post_alerts(payload(alert(name, **labels)))
    await rb.run()
    [inc] = [i for i in await rb.api("/api/v1/incidents") if i["labels"].get("alertname") == name]
    return inc
