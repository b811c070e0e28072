"""Maintenance windows, driven by the fake clock through the real Slack and PagerDuty clients: pages inside a
window are muted and recorded, a still-firing incident pages once when the window ends, playbook steps are
skipped unless the rule says ``during_maintenance: run``, and the incident is recorded all along."""

from __future__ import annotations

from typing import Any

from receiver.access import tokens
from tests.conftest import ADMIN
from tests.maintenance.conftest import (
    FEED,
    RISK,
    RULES,
    create_window,
    events,
    fire,
    kinds,
    pd_events,
    top_level_pages,
)

AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def test_page_inside_a_window_is_muted_and_recorded(fakes: Any, make_runbookd: Any) -> None:
    """A P1 opening inside a window matching its alert pages no one; the incident is recorded and its
    timeline has ``notify.muted`` naming the window and when it will page."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    w = await create_window(rb, ['alertname="RiskEngineDown"'])
    inc = await fire(rb, "RiskEngineDown", **RISK)
    assert inc["status"] == "firing"
    assert top_level_pages(fakes, "#alerts") == []
    [muted] = await events(rb, inc["id"], "notify.muted")
    assert w["id"] in muted["message"] and "risk upgrade" in muted["message"]
    assert muted["data"]["windows"] == [w["id"]]
    assert muted["data"]["until"] == rb.clock.now() + 3600
    assert rb.c.metrics.registry.get_sample_value(
        "runbookd_notifications_total", {"receiver": "slack-alerts", "outcome": "muted"}) == 1.0


async def test_still_firing_after_the_window_pages_once(fakes: Any, make_runbookd: Any,
                                                        backend: dict[str, Any]) -> None:
    """Nothing goes out during the hour (the 30-minute PagerDuty step is muted too); at the window's end
    Slack and PagerDuty are each paged once, and never again later (SQLite and PostgreSQL)."""
    rb = await make_runbookd(fakes, rule_files=RULES, **backend)
    await create_window(rb, ['alertname="RiskEngineDown"'])
    inc = await fire(rb, "RiskEngineDown", **RISK)
    await rb.advance(3599)
    assert top_level_pages(fakes, "#alerts") == [] and pd_events(fakes, "trigger") == []
    assert len(await events(rb, inc["id"], "notify.muted")) == 2
    await rb.advance(1)
    assert len(top_level_pages(fakes, "#alerts")) == 1
    assert len(pd_events(fakes, "trigger")) == 1
    await rb.advance(4 * 3600)
    assert len(top_level_pages(fakes, "#alerts")) == 1
    assert len(pd_events(fakes, "trigger")) == 1


async def test_acknowledged_during_the_window_pages_nobody_after_it(fakes: Any, make_runbookd: Any) -> None:
    """Acknowledged inside the window: its end pages no one."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    await create_window(rb, ['alertname="RiskEngineDown"'])
    inc = await fire(rb, "RiskEngineDown", **RISK)
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack", {"by": "erin"})).status == 200
    await rb.advance(2 * 3600)
    assert top_level_pages(fakes, "#alerts") == [] and pd_events(fakes, "trigger") == []


async def test_window_ended_early_pages_at_once(fakes: Any, make_runbookd: Any) -> None:
    """``DELETE /api/v1/maintenance/{id}`` ends the window now: the held page goes out at once, the end is
    on the timeline, and the window reads as inactive."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    w = await create_window(rb, ['alertname="RiskEngineDown"'])
    inc = await fire(rb, "RiskEngineDown", **RISK)
    await rb.advance(600)
    r = await rb.client.delete(f"/api/v1/maintenance/{w['id']}", headers=AUTH)
    assert r.status == 200, await r.text()
    await rb.run()
    assert len(top_level_pages(fakes, "#alerts")) == 1
    assert "maintenance.ended" in await kinds(rb, inc["id"])
    assert (await rb.api(f"/api/v1/maintenance/{w['id']}"))["active"] is False


async def test_alert_outside_the_windows_matchers_pages(fakes: Any, make_runbookd: Any) -> None:
    """A window for another service changes nothing: the alert pages at once."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    await create_window(rb, ['alertname="FeedStale"'])
    inc = await fire(rb, "RiskEngineDown", **RISK)
    assert len(top_level_pages(fakes, "#alerts")) == 1
    assert "notify.muted" not in await kinds(rb, inc["id"])


async def test_window_that_starts_later_does_not_mute_now(fakes: Any, make_runbookd: Any) -> None:
    """A window starting in an hour does not mute a page now."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    await create_window(rb, ['alertname="RiskEngineDown"'], starts_at="2027-01-15T09:00:00Z")
    await fire(rb, "RiskEngineDown", **RISK)
    assert len(top_level_pages(fakes, "#alerts")) == 1


async def test_playbook_step_is_skipped_during_a_window(fakes: Any, make_runbookd: Any) -> None:
    """The risk rule's step is skipped (``step.skipped`` naming the window); it does not run."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    w = await create_window(rb, ['alertname="RiskEngineDown"'])
    inc = await fire(rb, "RiskEngineDown", **RISK)
    [skipped] = await events(rb, inc["id"], "step.skipped")
    assert w["id"] in skipped["message"] and "during_maintenance: run" in skipped["message"]
    assert await events(rb, inc["id"], "step.ok") == []


async def test_during_maintenance_run_runs_the_step(fakes: Any, make_runbookd: Any) -> None:
    """The feed rule says ``during_maintenance: run``: its step runs inside the window, its page is muted."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    await create_window(rb, ['alertname="FeedStale"'])
    inc = await fire(rb, "FeedStale", **FEED)
    assert await events(rb, inc["id"], "step.skipped") == []
    assert len(await events(rb, inc["id"], "step.ok")) == 1
    assert len(await events(rb, inc["id"], "notify.muted")) == 1


async def test_window_creation_is_on_open_incidents_and_in_the_audit_log(fakes: Any, make_runbookd: Any) -> None:
    """A window created while a matching incident is open says so on its timeline, and the audit log
    records who created it and who ended it."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    inc = await fire(rb, "RiskEngineDown", **RISK)
    w = await create_window(rb, ['alertname=~"Risk.*"'])
    [started] = await events(rb, inc["id"], "maintenance.started")
    assert started["data"]["window"] == w["id"] and started["data"]["by"] == "admin-token"
    await rb.client.delete(f"/api/v1/maintenance/{w['id']}", headers=AUTH)
    audit = await rb.c.store.read(lambda tx: tx._x(
        "SELECT action, subject FROM audit_log WHERE subject LIKE 'maintenance:%' ORDER BY seq").fetchall())
    assert [tuple(r) for r in audit] == [("maintenance.created", f"maintenance:{w['id']}"),
                                         ("maintenance.ended", f"maintenance:{w['id']}")]


async def test_bad_window_is_a_400_naming_the_field(fakes: Any, make_runbookd: Any) -> None:
    """A bad matcher, a missing reason, no end and an end in the past are each a 400 naming the field;
    nothing is stored."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    cases = [
        ({"matchers": ['alertname=~"("'], "duration": "1h", "reason": "x"}, "matchers"),
        ({"matchers": [], "duration": "1h", "reason": "x"}, "matchers"),
        ({"matchers": ['a="b"'], "duration": "1h"}, "reason"),
        ({"matchers": ['a="b"'], "reason": "x"}, "ends_at"),
        ({"matchers": ['a="b"'], "reason": "x", "ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),
        ({"matchers": ['a="b"'], "reason": "x", "duration": "1h", "silence": True}, "silence"),
    ]
    for body, field in cases:
        r = await rb.api_post("/api/v1/maintenance", body)
        assert r.status == 400, body
        assert (await r.json())["field"] == field, body
    assert (await rb.api("/api/v1/maintenance"))["windows"] == []


async def test_only_an_admin_creates_or_ends_a_window(fakes: Any, make_runbookd: Any) -> None:
    """A responder's token gets 403 for POST and DELETE (recorded, nothing changed); an admin's creates
    the window as that person; a viewer may list."""
    people = [{"name": "rita", "role": "responder"}, {"name": "ada", "role": "admin"},
              {"name": "vera", "role": "viewer"}]
    rb = await make_runbookd(fakes, rule_files=RULES, access={"people": people})
    secret = await rb.c.store.transaction(lambda tx: {
        p["name"]: tokens.create(tx, p["name"], None, by="test", now=rb.clock.now()).secret for p in people})
    body = {"matchers": ['service="risk"'], "duration": "1h", "reason": "upgrade"}
    r = await rb.client.post("/api/v1/maintenance", json=body, headers={"Authorization": f"Bearer {secret['rita']}"})
    assert r.status == 403 and "maintenance needs role admin" in (await r.json())["error"]
    r = await rb.client.post("/api/v1/maintenance", json=body, headers={"Authorization": f"Bearer {secret['ada']}"})
    assert r.status == 201 and (await r.json())["created_by"] == "ada"
    wid = (await r.json())["id"]
    r = await rb.client.delete(f"/api/v1/maintenance/{wid}", headers={"Authorization": f"Bearer {secret['rita']}"})
    assert r.status == 403
    r = await rb.client.get("/api/v1/maintenance", headers={"Authorization": f"Bearer {secret['vera']}"})
    assert r.status == 200 and [w["active"] for w in (await r.json())["windows"]] == [True]


async def test_overlapping_windows_hold_the_page_until_the_last_one_ends(fakes: Any, make_runbookd: Any) -> None:
    """Windows of 1h and 2h: at 1h the page is held again (by the 2h window, on the timeline once more),
    and it goes out once at 2h."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    await create_window(rb, ['alertname="RiskEngineDown"'], duration="1h")
    second = await create_window(rb, ['alertname=~"Risk.*"'], duration="2h", reason="second")
    inc = await fire(rb, "RiskEngineDown", **RISK)
    await rb.advance(3600)
    assert top_level_pages(fakes, "#alerts") == []
    slack = [e for e in await events(rb, inc["id"], "notify.muted") if e["data"]["receiver"] == "slack-alerts"]
    assert [e["data"]["windows"][-1] for e in slack][-1] == second["id"] and len(slack) == 2
    await rb.advance(3599)
    assert top_level_pages(fakes, "#alerts") == []
    await rb.advance(1)
    assert len(top_level_pages(fakes, "#alerts")) == 1
