"""Silences when Alertmanager is unreachable: the acknowledgement never waits for it, each failed attempt is
retried as a durable row and recorded on the timeline, and resolving stops the retries. (The real
Alertmanager is in tests/e2e/test_silences_e2e.py.)"""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN
from tests.maintenance.conftest import RISK, RULES, events, fire

#: Nothing listens on port 1 of loopback: every connection is refused.
DEAD = {"urls": ["http://127.0.0.1:1"]}


async def test_unreachable_alertmanager_never_blocks_the_ack_and_is_retried(fakes: Any, make_runbookd: Any) -> None:
    """The ack answers 200 and the incident is acknowledged; the silence fails, is on the timeline as
    ``silence.retry`` and is tried again when its row comes due."""
    rb = await make_runbookd(fakes, rule_files=RULES, alertmanager=DEAD)
    inc = await fire(rb, "RiskEngineDown", **RISK)
    r = await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})
    assert r.status == 200 and (await r.json())["status"] == "acknowledged"
    await rb.run()
    [first] = await events(rb, inc["id"], "silence.retry")
    assert "127.0.0.1:1" in first["message"] and first["data"]["attempt"] == 1
    await rb.advance(first["data"]["due_at"] - rb.clock.now())
    assert [e["data"]["attempt"] for e in await events(rb, inc["id"], "silence.retry")] == [1, 2]


async def test_resolving_stops_the_silence_retries(fakes: Any, make_runbookd: Any) -> None:
    """Resolved while the silence is still being retried: the retries stop and nothing is left to expire."""
    rb = await make_runbookd(fakes, rule_files=RULES, alertmanager=DEAD)
    inc = await fire(rb, "RiskEngineDown", **RISK)
    await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})
    await rb.run()
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/resolve", {"by": "erin"})).status == 200
    await rb.advance(3600)
    assert len(await events(rb, inc["id"], "silence.retry")) == 1
    jobs = await rb.c.store.read(lambda tx: tx.jobs_of(inc["id"]))
    assert {j.key.rsplit(":", 1)[1]: j.state for j in jobs if j.kind == "silence"} == {
        "create": "cancelled", "expire": "done"}


async def test_no_silence_without_silence_on_ack(fakes: Any, make_runbookd: Any) -> None:
    """A P3 (its policy has no ``silence_on_ack``) plans no silence when acknowledged."""
    rb = await make_runbookd(fakes, rule_files=RULES, alertmanager=DEAD)
    inc = await fire(rb, "BatchLate", fingerprint="5555eeee6666ffff")
    await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})
    await rb.run()
    jobs = await rb.c.store.read(lambda tx: tx.jobs_of(inc["id"]))
    assert [j for j in jobs if j.kind == "silence"] == []


async def test_incident_silences_without_alertmanager_says_so(fakes: Any, make_runbookd: Any) -> None:
    """``GET /api/v1/incidents/{id}/silences`` without ``alertmanager.urls``: none, and a note why; 404 for
    an unknown incident."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    inc = await fire(rb, "RiskEngineDown", **RISK)
    body = await rb.api(f"/api/v1/incidents/{inc['id']}/silences")
    assert body == {"silences": [], "created_by_runbookd": [], "note": "alertmanager.urls is not set"}
    r = await rb.client.get("/api/v1/incidents/nope/silences", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status == 404
