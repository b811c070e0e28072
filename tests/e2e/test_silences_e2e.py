"""End to end with the real Alertmanager binary: runbookd's silences through Alertmanager's API v2.

runbookd runs in process (its fake clock starts at the wall clock's now, since Alertmanager judges a
silence's times by its own clock) with ``alertmanager.urls`` pointing at a real Alertmanager process.
Acknowledging a ``silence_on_ack`` incident creates a silence that Alertmanager reports as active
(``GET /api/v2/silences``), with runbookd as ``createdBy`` and a link back; resolving expires it. A
maintenance window gets its own silence, expired when the window is ended early.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from receiver.app import build_app, build_components
from receiver.clock import FakeClock
from tests.conftest import ADMIN, Runbookd, alert, payload, settings_for
from tests.e2e.conftest import Services, _require
from tests.e2e.harness import Alertmanager
from tests.maintenance.conftest import RISK, RULES

pytestmark = pytest.mark.e2e


@pytest.fixture
def real_alertmanager(services: Services) -> Alertmanager:
    """A real Alertmanager (its webhook goes nowhere: only its silences API is used here)."""
    _require("prometheus-alertmanager", "alertmanager", package="prometheus-alertmanager")
    return services.start(Alertmanager(services.dir("alertmanager"), "http://127.0.0.1:9/unused"))


async def in_process(aiohttp_client: Any, tmp_path: Any, am: Alertmanager, *, dead_first: bool = False) -> Runbookd:
    clock = FakeClock(time.time())
    urls = (["http://127.0.0.1:1"] if dead_first else []) + [am.url]
    settings = settings_for(tmp_path, None, rule_files=RULES, alertmanager={"urls": urls},
                            external_url="http://runbookd.example:9096")
    c = build_components(settings, clock=clock)
    return Runbookd(await aiohttp_client(build_app(c, run_dispatcher=False)), c, clock)


def am_silences(am: Alertmanager) -> list[dict[str, Any]]:
    r = httpx.get(f"{am.url}/api/v2/silences", timeout=5)
    r.raise_for_status()
    return list(r.json())


async def test_ack_creates_an_active_silence_and_resolve_expires_it(
        services: Services, real_alertmanager: Alertmanager, aiohttp_client: Any, tmp_path: Any) -> None:
    """Ack: one active silence of the incident's identity labels, by runbookd, linking to the incident,
    shown by ``GET /api/v1/incidents/{id}/silences``. Resolve: Alertmanager reports it expired."""
    am = real_alertmanager
    rb = await in_process(aiohttp_client, tmp_path, am)
    await rb.post_alerts(payload(alert("RiskEngineDown", **RISK)))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})).status == 200
    await rb.run()
    [s] = am_silences(am)
    assert s["status"]["state"] == "active"
    assert s["createdBy"] == "runbookd"
    assert f"http://runbookd.example:9096/incidents/{inc['id']}" in s["comment"]
    assert s["matchers"] == [{"name": "alertname", "value": "RiskEngineDown", "isRegex": False, "isEqual": True}]
    shown = await rb.api(f"/api/v1/incidents/{inc['id']}/silences")
    assert [x["id"] for x in shown["silences"]] == [s["id"]] and shown["created_by_runbookd"] == [s["id"]]
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    assert any(e["kind"] == "silence.created" and s["id"] in e["message"] for e in detail["timeline"])

    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/resolve", {"by": "erin"})).status == 200
    await rb.run()
    [after] = am_silences(am)
    assert after["id"] == s["id"] and after["status"]["state"] == "expired"
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    assert any(e["kind"] == "silence.expired" for e in detail["timeline"])


async def test_maintenance_window_gets_a_silence_expired_when_it_ends_early(
        services: Services, real_alertmanager: Alertmanager, aiohttp_client: Any, tmp_path: Any) -> None:
    """A window creates a silence with its matchers (a regex too) for its span; ending it expires it."""
    am = real_alertmanager
    rb = await in_process(aiohttp_client, tmp_path, am)
    r = await rb.api_post("/api/v1/maintenance", {"matchers": ['service=~"risk|pricing"', 'env!="dr"'],
                                                  "duration": "2h", "reason": "risk upgrade CHG-1"})
    assert r.status == 201
    w = await r.json()
    await rb.run()
    [s] = am_silences(am)
    assert s["status"]["state"] == "active" and s["createdBy"] == "runbookd"
    assert w["id"] in s["comment"] and "risk upgrade CHG-1" in s["comment"]
    assert sorted(s["matchers"], key=lambda m: m["name"]) == [
        {"name": "env", "value": "dr", "isRegex": False, "isEqual": False},
        {"name": "service", "value": "risk|pricing", "isRegex": True, "isEqual": True}]
    r2 = await rb.client.delete(f"/api/v1/maintenance/{w['id']}", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r2.status == 200
    await rb.run()
    [after] = am_silences(am)
    assert after["status"]["state"] == "expired"


async def test_a_dead_member_of_the_pair_is_passed_over(
        services: Services, real_alertmanager: Alertmanager, aiohttp_client: Any, tmp_path: Any) -> None:
    """``alertmanager.urls`` lists a dead member first: the silence is created on the live one at once."""
    am = real_alertmanager
    rb = await in_process(aiohttp_client, tmp_path, am, dead_first=True)
    await rb.post_alerts(payload(alert("RiskEngineDown", **RISK)))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})
    await rb.run()
    [s] = am_silences(am)
    assert s["status"]["state"] == "active"
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    assert not any(e["kind"] == "silence.retry" for e in detail["timeline"])
