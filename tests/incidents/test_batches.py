"""A poison alert (one the processor cannot apply) is quarantined; the alerts after it go on.

Issue 11 item 1: on PostgreSQL an alert whose alertname held a NUL stalled every later alert forever
while ``/-/ready`` said 200. The poison is put into the store through the store's own ``ingest`` (as a
webhook would, minus its validation), so these tests keep exercising the quarantine whatever ingest
refuses or escapes. Each runs on SQLite and on PostgreSQL (a fresh schema, dropped afterwards).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from receiver.model import AlertRecord
from tests.conftest import alert, payload
from tests.e2e.harness import metric_value

STARTS = "2026-11-22T01:37:32.084422Z"


def poison(labels: dict[str, Any], fingerprint: str = "00000000000000aa") -> AlertRecord:
    """A firing alert with ``labels`` as given (no validation), stored before the valid one."""
    return AlertRecord(fingerprint, STARTS, "firing", labels, {}, 1_799_999_000.0)


def pd_triggers(fakes: Any) -> list[dict[str, Any]]:
    return [r["json"] for r in fakes.pagerduty.calls("/v2/enqueue") if r["json"]["event_action"] == "trigger"]


async def metrics(rb: Any) -> str:
    r = await rb.client.get("/metrics")
    return str(await r.text())


async def _poison_then_p0(rb: Any, fakes: Any, bad: AlertRecord) -> None:
    await rb.c.store.ingest([bad], rb.clock.now())
    assert (await rb.post_alerts(payload(alert()))).status == 200
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents?alertname=TradingSystemDown")
    assert (inc["severity"], inc["status"]) == ("P0", "firing")
    assert len(pd_triggers(fakes)) == 1
    assert metric_value(await metrics(rb), "runbookd_alerts_quarantined_total") == 1
    [(fp, starts, status, reason)] = await rb.c.store.read(lambda tx: tx.quarantined_alerts())
    assert (fp, starts, status) == (bad.fingerprint, bad.starts_at, "firing")
    assert reason
    assert await rb.c.store.read(lambda tx: tx.oldest_pending_at()) is None
    assert (await rb.client.get("/-/ready")).status == 200


async def test_an_alert_the_processor_cannot_apply_is_quarantined_and_a_p0_after_it_pages(
        fakes: Any, make_runbookd: Any, storage: str) -> None:
    """A stored alert whose alertname is no text (the processor raises on it) is quarantined and
    counted, and a valid P0 alert after it opens its incident and pages."""
    rb = await make_runbookd(fakes, storage=storage)
    await _poison_then_p0(rb, fakes, poison({"alertname": ["Poison"], "job": "x"}))


@pytest.mark.postgres
async def test_a_nul_in_alertname_is_quarantined_on_postgresql_and_a_p0_after_it_pages(
        fakes: Any, make_runbookd: Any, pg_url: str) -> None:
    """PostgreSQL text cannot hold NUL: the alert is quarantined with that reason, the P0 after it pages."""
    rb = await make_runbookd(fakes, storage=pg_url)
    await _poison_then_p0(rb, fakes, poison({"alertname": "Poison\x00Alert", "job": "x"}))
    [(_, _, _, reason)] = await rb.c.store.read(lambda tx: tx.quarantined_alerts())
    assert "NUL" in reason


async def test_a_quarantined_alert_is_never_claimed_again(fakes: Any, make_runbookd: Any, storage: str) -> None:
    """After quarantine, later passes (and restarts) never try the poison again: counted once."""
    rb = await make_runbookd(fakes, storage=storage)
    await rb.c.store.ingest([poison({"alertname": ["Poison"]})], rb.clock.now())
    await rb.run()
    for _ in range(3):
        await rb.advance(10)
    assert await rb.c.store.transaction(lambda tx: tx.claim_pending_alerts(10)) == []
    assert metric_value(await metrics(rb), "runbookd_alerts_quarantined_total") == 1


GROUPED_BY_JOB = """
rules:
  - name: batch
    matchers: ['job="batch"']
    severity: P1
    group_by: [job]
"""


@pytest.mark.postgres
async def test_a_quarantined_alert_is_on_its_incidents_timeline(
        fakes: Any, make_runbookd: Any, pg_url: str, tmp_path: Path) -> None:
    """An alert that would join an open incident but cannot be stored (a NUL in its alertname, on
    PostgreSQL) is quarantined with a note on that incident's timeline, and the incident stays as it was."""
    rules = tmp_path / "rules.yml"
    rules.write_text(GROUPED_BY_JOB)
    rb = await make_runbookd(fakes, storage=pg_url, rule_files=[str(rules)])
    assert (await rb.post_alerts(payload(alert("BatchLate", job="batch")))).status == 200
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    await rb.c.store.ingest([poison({"alertname": "Batch\x00Stuck", "job": "batch"})], rb.clock.now())
    await rb.advance(1)
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    [note] = [e for e in detail["timeline"] if e["kind"] == "alert.quarantined"]
    assert note["data"]["fingerprint"] == "00000000000000aa"
    assert "NUL" in note["message"]
    assert [a["fingerprint"] for a in detail["alerts"]] == ["a1b2c3d4e5f60718"]


async def test_ready_is_503_while_an_alert_waits_too_long(fakes: Any, make_runbookd: Any, storage: str) -> None:
    """``/-/ready`` answers 503 while the oldest pending alert is older than ``ready_max_pending_age``,
    and the age is exported as ``runbookd_alerts_oldest_pending_age_seconds``."""
    rb = await make_runbookd(fakes, storage=storage, ready_max_pending_age="30s")
    rec = AlertRecord("00000000000000cc", STARTS, "firing", {"alertname": "HighLatency"}, {}, 1_799_999_000.0)
    await rb.c.store.transaction(lambda tx: tx.upsert_alerts([rec], rb.clock.now()))  # pending, unprocessed
    assert (await rb.client.get("/-/ready")).status == 200
    rb.clock.advance(31)
    r = await rb.client.get("/-/ready")
    assert r.status == 503
    assert "processing stalled" in await r.text()
    assert metric_value(await metrics(rb), "runbookd_alerts_oldest_pending_age_seconds") == pytest.approx(31)
    await rb.run()
    assert (await rb.client.get("/-/ready")).status == 200
    assert metric_value(await metrics(rb), "runbookd_alerts_oldest_pending_age_seconds") == 0

