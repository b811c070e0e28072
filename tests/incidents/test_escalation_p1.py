"""The P1 escalation matrix of seed 000, driven by a fake clock through real Slack, SMTP and PagerDuty clients:
Slack #alerts at once, email after 1 minute, PagerDuty after 10 minutes unless acknowledged; updates every
30 minutes until resolved; and the post-mortem draft of the resolved incident."""

from __future__ import annotations

from typing import Any

from tests.conftest import alert, payload
from tests.incidents.test_pipeline import RESOLVED, _p, pd_events, top_level_pages
from tests.notify.test_email import Mailbox, mailbox  # noqa: F401 — the SMTP server fixture

P1 = dict(fingerprint="1111aaaa2222bbbb")


async def p1(make_runbookd: Any, fakes: Any, box: Any) -> Any:
    _, port = box
    rb = await make_runbookd(fakes, smtp={"host": "127.0.0.1", "port": port})
    await rb.post_alerts(payload(alert("HighErrorRate", **P1)))
    await rb.run()
    return rb


def updates(fakes: Any) -> list[dict[str, Any]]:
    return [_p(r) for r in fakes.slack.calls("/api/chat.postMessage")
            if _p(r).get("thread_ts") and "Status update:" in str(_p(r))]


async def test_unacknowledged_p1_escalates_slack_email_then_pagerduty(
        fakes: Any, make_runbookd: Any, mailbox: tuple[Mailbox, int]) -> None:  # noqa: F811
    """Slack at 0, email at 1 min, PagerDuty at 10 min, updates at 30-minute steps."""
    box, _ = mailbox
    rb = await p1(make_runbookd, fakes, mailbox)
    assert len(top_level_pages(fakes, "#alerts")) == 1
    assert box.messages() == [] and pd_events(fakes, "trigger") == []
    await rb.advance(60)
    [mail] = box.messages()
    assert "[P1]" in mail["Subject"] and "HighErrorRate" in mail["Subject"]
    await rb.advance(539)
    assert pd_events(fakes, "trigger") == []
    await rb.advance(1)
    [trigger] = pd_events(fakes, "trigger")
    assert trigger["payload"]["severity"] == "critical"
    await rb.advance(1200)
    assert len(updates(fakes)) == 1
    await rb.advance(1800)
    assert len(updates(fakes)) == 2
    await rb.post_alerts(payload(alert("HighErrorRate", **P1, **RESOLVED)))
    await rb.advance(3600)
    assert len(updates(fakes)) == 2
    assert len(pd_events(fakes, "resolve")) == 1


async def test_p1_acknowledged_at_5_minutes_never_pages_pagerduty(
        fakes: Any, make_runbookd: Any, mailbox: tuple[Mailbox, int]) -> None:  # noqa: F811
    """Acknowledged at 5 minutes: no PagerDuty at 10 minutes; updates still go on until resolved."""
    rb = await p1(make_runbookd, fakes, mailbox)
    [inc] = await rb.api("/api/v1/incidents")
    await rb.advance(300)
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})).status == 200
    await rb.advance(1500)
    await rb.advance(1800)
    assert pd_events(fakes, "trigger") == []
    assert len(updates(fakes)) == 2


async def test_postmortem_draft_holds_the_real_timeline(fakes: Any, make_runbookd: Any) -> None:
    """A resolved P0's post-mortem lists the alert, each playbook step with its result, pages and the ack."""
    rb = await make_runbookd(fakes)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    await rb.advance(120)
    await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "frank"})
    await rb.advance(600)
    await rb.post_alerts(payload(alert(**RESOLVED)))
    await rb.run()
    r = await rb.client.get(f"/api/v1/incidents/{inc['id']}/postmortem",
                            headers={"Authorization": "Bearer admin-token-for-tests"})
    assert r.status == 200 and r.content_type == "text/markdown"
    md = await r.text()
    for expected in ("TradingSystemDown", "stop-trading", "cancel-orders", "circuit-breakers", "frank",
                     "pagerduty-primary", "slack-critical", "2027-01-15 08:00:00", "2027-01-15 08:02:00",
                     "12m"):
        assert expected in md, expected
    links = [_p(m) for m in fakes.slack.calls("/api/chat.postMessage") if "postmortem" in str(_p(m))]
    assert links and links[0]["thread_ts"]
