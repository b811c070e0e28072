"""``when: {market_open: …}`` with ``calendar: XNYS``: the exchange calendar answers, not Alpaca's clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.conftest import TESTDATA, alert, payload

RULES = [str(TESTDATA / "rules" / "safety.yml")]


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def skipped(rb: Any, fp: str) -> list[str]:
    inc = next(i for i in await rb.api("/api/v1/incidents") if fp in [a["fingerprint"] for a in i["alerts"]])
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    return [e["message"] for e in detail["timeline"] if e["kind"] == "step.skipped"]


async def test_calendar_wins_over_alpaca_clock_for_market_open(fakes: Any, make_runbookd: Any) -> None:
    """On Thanksgiving 2026 the calendar says closed although Alpaca's clock says open: the guarded step is
    skipped, naming the calendar; on the 2026-11-27 early-close morning it runs. Alpaca's clock is never read."""
    rb = await make_runbookd(fakes, rule_files=RULES, calendar="XNYS")
    fakes.alpaca.market_open = True
    rb.clock.set(at("2026-11-26T11:00:00-05:00"))
    await rb.post_alerts(payload(alert("CriticalPathDown", fingerprint="00000000000000a1")))
    await rb.run()
    assert any(m.endswith("market is closed (XNYS calendar)") for m in await skipped(rb, "00000000000000a1"))
    assert fakes.alpaca.count("/v2/positions/SPY", "DELETE") == 0
    await rb.post_alerts(payload(alert("CriticalPathDown", fingerprint="00000000000000a1", status="resolved",
                                       ends_at="2026-11-26T16:05:00Z")))
    await rb.run()
    rb.clock.set(at("2026-11-27T11:00:00-05:00"))
    await rb.post_alerts(payload(alert("CriticalPathDown", fingerprint="00000000000000b2",
                                       starts_at="2026-11-27T16:00:00Z")))
    await rb.run()
    assert not any("market is" in m for m in await skipped(rb, "00000000000000b2"))
    assert fakes.alpaca.count("/v2/clock") == 0
