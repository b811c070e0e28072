"""``/runbookd oncall`` and ``/runbookd override`` in Slack: anyone known reads who is on call (ephemeral),
an admin sets an override (in channel, audited), a viewer may not, and a malformed one says why."""

from __future__ import annotations

from typing import Any

from tests.api.test_oncall import PEOPLE, RULES
from tests.api.test_slack_commands import command


async def test_oncall_answers_who_and_until_to_the_caller(fakes: Any, make_runbookd: Any) -> None:
    """vera (viewer) sees every schedule's person and until, or one schedule's; an unknown one is named."""
    rb = await make_runbookd(fakes, rule_files=RULES, access={"people": PEOPLE})
    out = await command(rb, "U0VERA", "oncall")
    assert out["response_type"] == "ephemeral"
    assert out["text"] == ("primary: bob until 2027-01-15T09:00:00.000Z (layer:daily)\n"
                           "secondary: carol with no change ahead (layer:weekly)")
    assert (await command(rb, "U0VERA", "oncall secondary"))["text"].startswith("secondary: carol")
    assert "unknown schedule 'nope'" in (await command(rb, "U0VERA", "oncall nope"))["text"]


async def test_an_admin_override_is_in_force_announced_and_audited(fakes: Any, make_runbookd: Any) -> None:
    """ada's override makes carol on call for primary until its end, in channel, audited by ada."""
    rb = await make_runbookd(fakes, rule_files=RULES, access={"people": PEOPLE})
    out = await command(rb, "U0ADA", "override primary carol now 3h -- bob at the dentist")
    assert out["response_type"] == "in_channel", out
    assert "carol covers primary" in out["text"] and "until 2027-01-15T11:00:00.000Z" in out["text"]
    [ov] = (await rb.api("/api/v1/oncall/overrides"))["overrides"]
    assert (ov["created_by"], ov["reason"]) == ("ada", "bob at the dentist")
    assert (await command(rb, "U0VERA", "oncall primary"))["text"].startswith(
        "primary: carol until 2027-01-15T11:00:00.000Z (override:")
    audit = await rb.c.store.read(lambda tx: tx.audit_page(20))
    assert [(r["action"], r["actor"]) for r in audit if r["action"].startswith("oncall.")] == [
        ("oncall.override.created", "ada")]


async def test_a_viewer_may_not_override_and_nothing_is_stored(fakes: Any, make_runbookd: Any) -> None:
    """vera's override is refused (needs role admin)."""
    rb = await make_runbookd(fakes, rule_files=RULES, access={"people": PEOPLE})
    out = await command(rb, "U0VERA", "override primary vera now 1h")
    assert out["response_type"] == "ephemeral" and "oncall needs role admin" in out["text"]
    assert (await rb.api("/api/v1/oncall/overrides"))["overrides"] == []


async def test_a_malformed_override_says_what_is_wrong(fakes: Any, make_runbookd: Any) -> None:
    """Too few words, an unknown schedule, a time without a zone: ephemeral, naming the problem."""
    rb = await make_runbookd(fakes, rule_files=RULES, access={"people": PEOPLE})
    for text, says in (("override primary carol now", "usage: /runbookd override"),
                       ("override nope carol now 1h", "unknown schedule 'nope'"),
                       ("override primary carol 2027-01-15T10:00 1h", "no time zone")):
        out = await command(rb, "U0ADA", text)
        assert out["response_type"] == "ephemeral" and says in out["text"], (text, out)
    assert (await rb.api("/api/v1/oncall/overrides"))["overrides"] == []
