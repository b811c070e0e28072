"""An http step whose rendered URL is outside ``actions.http.allowed_hosts`` fails like any failed step."""

from __future__ import annotations

from typing import Any

from tests.conftest import alert, payload

STOP = "/admin/trading/emergency-stop"


async def test_a_step_to_a_host_not_allowed_is_refused_recorded_and_paged(fakes: Any, make_runbookd: Any) -> None:
    """The trading system's URL is not in the allow-list: no request reaches it, the timeline says why
    (``step.failed``), and the failure pages at once (ACTION NEEDED), as a failed step does."""
    rb = await make_runbookd(fakes, actions={"http": {"allowed_hosts": ["trading.example"]}})
    await rb.post_alerts(payload(alert()))
    await rb.run()
    assert fakes.trading.count(STOP) == 0
    [inc] = await rb.api("/api/v1/incidents")
    timeline = (await rb.api(f"/api/v1/incidents/{inc['id']}"))["timeline"]
    [failed] = [e for e in timeline if e["kind"] == "step.failed" and e["data"]["step"] == "stop-trading"]
    assert "is not in actions.http.allowed_hosts (trading.example:default): not sent" in failed["message"]
    sent = " ".join(str(r["json"]) for r in fakes.slack.requests if r.get("json"))
    assert "ACTION NEEDED: step 'stop-trading'" in sent and "allowed_hosts" in sent


async def test_the_allowed_trading_system_is_called(fakes: Any, make_runbookd: Any) -> None:
    """With the trading system's URL in the allow-list the same step reaches it."""
    rb = await make_runbookd(fakes, actions={"http": {"allowed_hosts": [fakes.trading.url]}})
    await rb.post_alerts(payload(alert()))
    await rb.run()
    assert fakes.trading.hits(STOP) == 1
