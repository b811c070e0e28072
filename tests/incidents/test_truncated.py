"""Truncated groups (issue 12 item 4): a body that left alerts out never resolves its incident.

With ``max_alerts`` Alertmanager sends only some alerts of a group and counts the rest in
``truncatedAlerts``; the body's ``status`` is computed from the alerts it sent. The body used here was
captured from Alertmanager 0.25 (two alerts shown, three left out). The rule (docs/escalation.md): the
incident resolves when a body without truncation shows its alerts resolved; a group that goes quiet
resolves, unconfirmed, ``truncated_resolve_timeout`` after its last body.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.conftest import TESTDATA

BODY = json.loads((TESTDATA / "am025-truncated-firing.json").read_text())
ENDS = "2026-11-22T01:47:46.717403Z"


def body(status: str = "firing", truncated: int = 3) -> dict[str, Any]:
    """The captured body, with every alert it shows in ``status`` and ``truncatedAlerts`` = ``truncated``."""
    b = copy.deepcopy(BODY)
    b["status"], b["truncatedAlerts"] = status, truncated
    for a in b["alerts"]:
        a["status"] = status
        if status == "resolved":
            a["endsAt"] = ENDS
    return b


def slack_texts(fakes: Any) -> str:
    return json.dumps([r.get("json") or r.get("form") for r in fakes.slack.calls("/api/chat.postMessage")])


async def incident(rb: Any) -> dict[str, Any]:
    [inc] = await rb.api("/api/v1/incidents")
    detail: dict[str, Any] = await rb.api(f"/api/v1/incidents/{inc['id']}")
    return detail


async def test_a_truncated_body_opens_an_incident_that_says_how_many_were_left_out(
        fakes: Any, make_runbookd: Any, storage: str) -> None:
    """The incident, its timeline and its first page say that Alertmanager left 3 alerts out."""
    rb = await make_runbookd(fakes, storage=storage)
    assert (await rb.post_alerts(body())).status == 200
    await rb.run()
    inc = await incident(rb)
    assert inc["truncated_alerts"] == 3
    [note] = [e for e in inc["timeline"] if e["kind"] == "alert.truncated"]
    assert "left 3 alert(s)" in note["message"]
    assert "left 3 more alert(s)" in slack_texts(fakes)


async def test_resolved_alerts_of_a_truncated_body_do_not_resolve_the_incident(
        fakes: Any, make_runbookd: Any, storage: str) -> None:
    """Every alert shown resolved, three left out: the incident stays open (held), and a re-sent
    truncated body keeps it so."""
    rb = await make_runbookd(fakes, storage=storage)
    await rb.post_alerts(body())
    await rb.run()
    await rb.advance(60)
    assert (await rb.post_alerts(body("resolved"))).status == 200
    await rb.run()
    inc = await incident(rb)
    assert inc["status"] == "firing"
    assert inc["held_since"] is not None
    assert "incident.held" in [e["kind"] for e in inc["timeline"]]
    await rb.advance(600)
    await rb.post_alerts(body("resolved"))
    await rb.run()
    assert (await incident(rb))["status"] == "firing"


async def test_a_complete_body_with_every_alert_resolved_resolves_it(
        fakes: Any, make_runbookd: Any, storage: str) -> None:
    """A body without truncation that shows the alerts resolved ends the hold and resolves the incident."""
    rb = await make_runbookd(fakes, storage=storage)
    await rb.post_alerts(body())
    await rb.run()
    await rb.post_alerts(body("resolved"))
    await rb.advance(60)
    await rb.post_alerts(body("resolved", truncated=0))
    await rb.run()
    inc = await incident(rb)
    assert inc["status"] == "resolved"
    assert inc["truncated_alerts"] == 0
    kinds = [e["kind"] for e in inc["timeline"]]
    assert kinds.index("incident.held") < kinds.index("alert.complete") < kinds.index("incident.resolved")
    assert "incident.unconfirmed" not in kinds


async def test_a_held_incident_whose_group_goes_quiet_resolves_unconfirmed_after_the_timeout(
        fakes: Any, make_runbookd: Any, storage: str) -> None:
    """No body after the truncated resolved one: the incident resolves once ``truncated_resolve_timeout``
    has passed since it, not before, with a timeline note that it was never confirmed."""
    rb = await make_runbookd(fakes, storage=storage, truncated_resolve_timeout="1h")
    await rb.post_alerts(body())
    await rb.run()
    await rb.post_alerts(body("resolved"))
    await rb.run()
    await rb.advance(3590)
    assert (await incident(rb))["status"] == "firing"
    await rb.advance(20)
    inc = await incident(rb)
    assert inc["status"] == "resolved"
    [note] = [e for e in inc["timeline"] if e["kind"] == "incident.unconfirmed"]
    assert "never saw" in note["message"]


async def test_a_firing_alert_ends_the_hold(fakes: Any, make_runbookd: Any, storage: str) -> None:
    """While held, an alert of the group that fires again (a complete body) ends the hold: the
    incident no longer waits to resolve on the timeout."""
    rb = await make_runbookd(fakes, storage=storage, truncated_resolve_timeout="1h")
    await rb.post_alerts(body())
    await rb.run()
    await rb.post_alerts(body("resolved"))
    await rb.run()
    refire = body(truncated=0)
    refire["alerts"] = refire["alerts"][:1]
    refire["alerts"][0]["startsAt"] = "2026-11-22T02:00:00Z"
    await rb.post_alerts(refire)
    await rb.run()
    await rb.advance(7200)
    inc = await incident(rb)
    assert (inc["status"], inc["held_since"]) == ("firing", None)
