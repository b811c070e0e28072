"""Durable timers that belong to no incident: the daily digest and the dead man's switch."""

from __future__ import annotations

from typing import Any

from tests.conftest import alert, payload
from tests.incidents.test_pipeline import _p, pd_events


def digests(fakes: Any) -> list[dict[str, Any]]:
    return [_p(r) for r in fakes.slack.calls("/api/chat.postMessage") if "Daily digest" in str(_p(r))]


async def test_daily_digest_lists_the_days_p3_incidents_once(fakes: Any, make_runbookd: Any) -> None:
    """At 09:00 UTC one digest lists the P3 incidents of the past day; the next comes a day later."""
    rb = await make_runbookd(fakes)  # the fake clock starts at 2027-01-15 08:00 UTC
    await rb.post_alerts(payload(alert("DiskAlmostFull", fingerprint="1234123412341234")))
    await rb.run()
    await rb.advance(59 * 60)
    assert digests(fakes) == []
    await rb.advance(60)
    [d] = digests(fakes)
    assert "DiskAlmostFull" in d["text"] and "1 P3 incident" in d["text"]
    await rb.advance(3 * 86400)  # a late process catches up with one digest, not three
    assert len(digests(fakes)) == 2


async def test_heartbeat_alert_opens_no_incident(fakes: Any, make_runbookd: Any) -> None:
    """Alertmanager's Watchdog is recorded as a heartbeat, not an incident."""
    rb = await make_runbookd(fakes)
    await rb.post_alerts(payload(alert("Watchdog", fingerprint="00000000000000aa")))
    await rb.run()
    assert await rb.api("/api/v1/incidents") == []


async def test_missing_heartbeat_pages_pagerduty_once_and_resolves(fakes: Any, make_runbookd: Any) -> None:
    """No Watchdog for longer than the timeout pages PagerDuty once; its return resolves the page."""
    rb = await make_runbookd(fakes, heartbeat={"alertname": "Watchdog", "timeout": "5m"})
    watchdog = payload(alert("Watchdog", fingerprint="00000000000000aa"))
    await rb.post_alerts(watchdog)
    await rb.run()
    await rb.advance(290)
    assert pd_events(fakes, "trigger") == []
    await rb.advance(20)
    [trigger] = pd_events(fakes, "trigger")
    assert trigger["dedup_key"].startswith("runbookd-deadman-")
    assert "Watchdog" in trigger["payload"]["summary"]
    await rb.advance(3600)
    assert len(pd_events(fakes, "trigger")) == 1
    await rb.post_alerts(watchdog)
    await rb.advance(10)
    [resolve] = pd_events(fakes, "resolve")
    assert resolve["dedup_key"] == trigger["dedup_key"]
