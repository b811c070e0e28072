"""Helpers of the maintenance tests: an in-process runbookd on tests/testdata/rules/maintenance.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TESTDATA, alert, payload
from tests.incidents.test_pipeline import pd_events, top_level_pages
from tests.store.conftest import PG_URL, pg_schema, require_pg, with_schema

RULES = [str(TESTDATA / "rules" / "maintenance.yml")]
RISK = dict(fingerprint="1111aaaa2222bbbb")
FEED = dict(fingerprint="3333cccc4444dddd")

__all__ = ["pg_schema", "RULES", "RISK", "FEED", "alert", "payload", "pd_events", "top_level_pages", "kinds", "events",
           "create_window", "fire"]


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings overrides of ``make_runbookd`` for each store: SQLite (the default) and PostgreSQL."""
    if request.param == "sqlite":
        return {}
    require_pg()
    return {"storage": with_schema(PG_URL, request.getfixturevalue("pg_schema")())}
