"""Pages sent to Slack and PagerDuty link to the incident's console page, built from external_url."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import alert, payload
from tests.incidents.test_pipeline import RESOLVED, _p


async def test_slack_and_pagerduty_pages_link_to_the_console(make_runbookd: Any, fakes: Any) -> None:
    """A P0 page to Slack and the PagerDuty trigger carry <external_url>/incidents/<id>, not the API."""
    rb = await make_runbookd(fakes, external_url="https://rb.example/")
    await rb.post_alerts(payload(alert("TradingSystemDown")))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    link = f"https://rb.example/incidents/{inc['id']}"
    slack = json.dumps(fakes.slack.posts())
    assert link in slack and "/api/v1/" not in slack
    [trigger] = [e for e in fakes.pagerduty.events if e.get("event_action") == "trigger"]
    assert {"href": link, "text": "Incident in runbookd"} in trigger["links"]


async def test_the_post_mortem_reply_links_to_the_console_page(make_runbookd: Any, fakes: Any) -> None:
    """When a P0 resolves, the post-mortem thread reply links to the console's post-mortem page."""
    rb = await make_runbookd(fakes, external_url="https://rb.example")
    await rb.post_alerts(payload(alert("TradingSystemDown")))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    await rb.post_alerts(payload(alert(**RESOLVED)))
    await rb.run()
    await rb.advance(60)
    sent = [str(_p(m).get("text", "")) for m in fakes.slack.calls("/api/chat.postMessage")]
    replies = [t for t in sent if "Post-mortem draft for" in t]
    assert replies and all(f": https://rb.example/incidents/{inc['id']}/postmortem\n" in t for t in replies)
    assert not any("/api/v1/" in t for t in replies)
