"""``/api/v1/oncall`` and ``/api/v1/oncall/overrides``: who is on call, overrides made, listed, deleted,
audited, with roles (viewer reads, admin writes) and 400s naming the bad field."""

from __future__ import annotations

from typing import Any

from receiver.access import tokens
from tests.conftest import ADMIN, TESTDATA

RULES = [str(TESTDATA / "rules" / "oncall.yml")]
PEOPLE = [{"name": "ada", "role": "admin", "slack_users": ["U0ADA"]},
          {"name": "vera", "role": "viewer", "slack_users": ["U0VERA"]}]
# The fake clock starts at 2027-01-15T08:00:00Z: day 14 of the daily rotation from 2027-01-01 09:00 UTC.


async def oncall(rb: Any, query: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = (await rb.api(f"/api/v1/oncall{query}"))["oncall"]
    return out


async def test_get_oncall_names_each_schedules_person_and_until(make_runbookd: Any) -> None:
    """Every schedule, by name: bob holds the 2027-01-14 09:00 shift until 09:00 the next day; carol
    alone never changes; ?at= and ?schedule= pick the instant and the schedule."""
    rb = await make_runbookd(None, rule_files=RULES)
    assert await oncall(rb) == [
        {"schedule": "primary", "at": "2027-01-15T08:00:00.000Z", "person": "bob",
         "until": "2027-01-15T09:00:00.000Z", "source": "layer:daily"},
        {"schedule": "secondary", "at": "2027-01-15T08:00:00.000Z", "person": "carol", "until": None,
         "source": "layer:weekly"}]
    [later] = await oncall(rb, "?schedule=primary&at=2027-01-15T10:00:00Z")
    assert (later["person"], later["until"]) == ("alice", "2027-01-16T09:00:00.000Z")


async def test_bad_at_and_unknown_schedule_are_refused(make_runbookd: Any) -> None:
    """A time without a zone is a 400 naming at; an unknown schedule a 404."""
    rb = await make_runbookd(None, rule_files=RULES)
    h = {"Authorization": f"Bearer {ADMIN}"}
    r = await rb.client.get("/api/v1/oncall?at=2027-01-15T10:00:00", headers=h)
    assert r.status == 400 and "no time zone" in await r.text() and (await r.json())["field"] == "at"
    assert (await rb.client.get("/api/v1/oncall?schedule=nope", headers=h)).status == 404


async def test_an_override_wins_is_listed_deleted_and_audited(make_runbookd: Any) -> None:
    """POST makes carol cover primary for 2h from now (201); GET /oncall names her until its end; the list
    shows it; DELETE removes it and bob is back; both are in the audit log by the token's actor."""
    rb = await make_runbookd(None, rule_files=RULES)
    r = await rb.api_post("/api/v1/oncall/overrides", {"schedule": "primary", "person": "carol",
                                                       "ends_at": "2h", "reason": "swap"})
    assert r.status == 201, await r.text()
    ov = await r.json()
    assert (ov["person"], ov["starts_at"], ov["ends_at"]) == ("carol", "2027-01-15T08:00:00.000Z",
                                                             "2027-01-15T10:00:00.000Z")
    [now] = await oncall(rb, "?schedule=primary")
    assert (now["person"], now["until"], now["source"]) == ("carol", ov["ends_at"], f"override:{ov['id']}")
    assert [o["id"] for o in (await rb.api("/api/v1/oncall/overrides?schedule=primary"))["overrides"]] == [ov["id"]]
    d = await rb.client.delete(f"/api/v1/oncall/overrides/{ov['id']}", headers={"Authorization": f"Bearer {ADMIN}"})
    assert d.status == 200
    assert (await oncall(rb, "?schedule=primary"))[0]["person"] == "bob"
    again = await rb.client.delete(f"/api/v1/oncall/overrides/{ov['id']}",
                                   headers={"Authorization": f"Bearer {ADMIN}"})
    assert again.status == 404
    audit = await rb.c.store.read(lambda tx: tx.audit_page(20))
    assert [r["action"] for r in audit if r["action"].startswith("oncall.")] == [
        "oncall.override.deleted", "oncall.override.created"]


async def test_bad_overrides_are_400s_naming_the_field_and_store_nothing(make_runbookd: Any) -> None:
    """Unknown schedule, bad person, an end before the start, an unknown field: 400 with the field."""
    rb = await make_runbookd(None, rule_files=RULES)
    for body, field in [({"schedule": "nope", "person": "carol", "ends_at": "1h"}, "schedule"),
                        ({"schedule": "primary", "person": "car ol", "ends_at": "1h"}, "person"),
                        ({"schedule": "primary", "person": "carol", "ends_at": "2027-01-15T07:00:00Z"}, "ends_at"),
                        ({"schedule": "primary", "person": "carol", "ends_at": "1h", "who": "x"}, "who")]:
        r = await rb.api_post("/api/v1/oncall/overrides", body)
        assert r.status == 400, body
        assert (await r.json())["field"] == field, await r.text()
    assert (await rb.api("/api/v1/oncall/overrides"))["overrides"] == []


async def test_a_viewer_reads_but_may_not_create_or_delete(make_runbookd: Any) -> None:
    """vera's personal token (viewer) reads /oncall; POST and DELETE are 403s that need role admin."""
    rb = await make_runbookd(None, rule_files=RULES, access={"people": PEOPLE})
    secret = await rb.c.store.transaction(lambda tx: tokens.create(tx, "vera", None, by="t", now=rb.clock.now()).secret)
    h = {"Authorization": f"Bearer {secret}"}
    assert (await rb.client.get("/api/v1/oncall", headers=h)).status == 200
    assert (await rb.client.get("/api/v1/oncall/overrides", headers=h)).status == 200
    r = await rb.client.post("/api/v1/oncall/overrides", json={"schedule": "primary", "person": "vera",
                                                               "ends_at": "1h"}, headers=h)
    assert r.status == 403 and "oncall needs role admin" in await r.text()
    assert (await rb.client.delete("/api/v1/oncall/overrides/ov-x", headers=h)).status == 403
    assert (await rb.api("/api/v1/oncall/overrides"))["overrides"] == []
