"""``/runbookd maintenance start|list|end`` in Slack: an admin starts and ends windows (in channel), anyone
known lists them (ephemeral), a viewer may not start one, and a malformed start says what is wrong."""

from __future__ import annotations

from typing import Any

from receiver.maintenance.command import parse_start
from tests.api.test_slack_commands import command
from tests.maintenance.conftest import RISK, RULES, fire, kinds, top_level_pages

PEOPLE = [{"name": "ada", "role": "admin", "slack_users": ["U0ADA"]},
          {"name": "vera", "role": "viewer", "slack_users": ["U0VERA"]}]


async def test_admin_starts_lists_and_ends_a_window(fakes: Any, make_runbookd: Any) -> None:
    """``start 2h alertname=~"Risk.*" -- upgrade`` creates a window by ada that mutes the
    risk page; ``list`` shows it; ``end ID`` ends it and the held page goes out."""
    rb = await make_runbookd(fakes, rule_files=RULES, access={"people": PEOPLE})
    out = await command(rb, "U0ADA", 'maintenance start 2h alertname=~"Risk.*" -- risk engine upgrade CHG-7')
    assert out["response_type"] == "in_channel", out
    [w] = (await rb.api("/api/v1/maintenance"))["windows"]
    assert w["matchers"] == ['alertname=~"Risk.*"'] and w["created_by"] == "ada"
    assert w["reason"] == "risk engine upgrade CHG-7" and w["id"] in out["text"]
    inc = await fire(rb, "RiskEngineDown", **RISK)
    assert top_level_pages(fakes, "#alerts") == [] and "notify.muted" in await kinds(rb, inc["id"])
    listed = await command(rb, "U0VERA", "maintenance list")
    assert listed["response_type"] == "ephemeral" and w["id"] in listed["text"]
    ended = await command(rb, "U0ADA", f"maintenance end {w['id']}")
    assert ended["response_type"] == "in_channel" and "ended by ada" in ended["text"]
    await rb.run()
    assert len(top_level_pages(fakes, "#alerts")) == 1


async def test_viewer_may_not_start_a_window(fakes: Any, make_runbookd: Any) -> None:
    """vera (viewer) is refused and nothing is stored."""
    rb = await make_runbookd(fakes, rule_files=RULES, access={"people": PEOPLE})
    out = await command(rb, "U0VERA", 'maintenance start 1h alertname="X" -- test')
    assert out["response_type"] == "ephemeral" and "needs role admin" in out["text"]
    assert (await rb.api("/api/v1/maintenance"))["windows"] == []


async def test_malformed_start_says_what_is_wrong(fakes: Any, make_runbookd: Any) -> None:
    """No reason, a bad duration or a bad matcher: an ephemeral answer naming the problem, nothing stored."""
    rb = await make_runbookd(fakes, rule_files=RULES, access={"people": PEOPLE})
    for text, says in (('maintenance start 1h alertname="X"', "say why"),
                       ('maintenance start soon alertname="X" -- x', "soon"),
                       ('maintenance start until 2027-01-15T10:00:00Z alertname=~"(" -- x', "matchers")):
        out = await command(rb, "U0ADA", text)
        assert out["response_type"] == "ephemeral" and says in out["text"], (text, out)
    assert (await rb.api("/api/v1/maintenance"))["windows"] == []


def test_start_matchers_may_quote_spaces_and_use_commas() -> None:
    """Quoted values keep their spaces; matchers may be separated by spaces or commas; ``until`` sets the end."""
    req = parse_start('until 2027-01-15T10:00:00Z service="risk engine" env="prod",region=~"eu|us" -- CHG-9',
                      now=1_800_000_000.0)
    assert req.matchers == ('service="risk engine"', 'env="prod",region=~"eu|us"')
    assert req.ends_at == 1_800_007_200.0 and req.reason == "CHG-9"


async def test_manual_run_is_not_skipped_by_a_window(fakes: Any, make_runbookd: Any) -> None:
    """``/runbookd run`` inside a window covering everything still runs its steps: a person ordered it."""
    rb = await make_runbookd(fakes, rule_files=RULES, access={"people": PEOPLE})
    await command(rb, "U0ADA", 'maintenance start 1h alertname=~".+" -- everything')
    out = await command(rb, "U0ADA", "run note-risk")
    assert out["response_type"] == "in_channel", out
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    assert "step.ok" in await kinds(rb, inc["id"]) and "step.skipped" not in await kinds(rb, inc["id"])
