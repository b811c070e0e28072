"""Response targets and maintenance windows: a breach that falls inside a window covering the incident
waits for the window's end (the fake clock moves; the real Slack and PagerDuty clients talk to the fakes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import TESTDATA
from tests.maintenance.conftest import RISK, create_window, events, fire


def rules_with_target(tmp_path: Path, within: str = "15m") -> list[str]:
    """The maintenance test rules with ``respond_within`` on the P1 policy."""
    text = (TESTDATA / "rules" / "maintenance.yml").read_text(encoding="utf-8")
    policy = "  P1:\n    silence_on_ack: true\n"
    text = text.replace(policy, f"{policy}    respond_within: {within}\n", 1)
    assert f"respond_within: {within}" in text
    path = tmp_path / "rules-with-target.yml"
    path.write_text(text, encoding="utf-8")
    return [str(path)]


def breaches(rb: Any) -> float:
    return rb.c.metrics.registry.get_sample_value("runbookd_response_target_breaches_total", {"severity": "P1"}) or 0.0


async def test_a_breach_inside_a_window_waits_for_its_end(fakes: Any, make_runbookd: Any, tmp_path: Path) -> None:
    """15m target, 1h window: at 15 minutes nothing breaches (``response.deferred`` says until when); still
    unacknowledged when the window ends, the incident breaches then, once."""
    rb = await make_runbookd(fakes, rule_files=rules_with_target(tmp_path))
    await create_window(rb, ['alertname="RiskEngineDown"'])
    inc = await fire(rb, "RiskEngineDown", **RISK)
    end = rb.clock.now() + 3600
    await rb.advance(15 * 60)
    assert await events(rb, inc["id"], "response.breached") == []
    [deferred] = await events(rb, inc["id"], "response.deferred")
    assert deferred["data"]["until"] == end
    assert breaches(rb) == 0
    await rb.advance(3600 - 15 * 60)
    await rb.advance(1)
    assert len(await events(rb, inc["id"], "response.breached")) == 1
    assert breaches(rb) == 1
    await rb.advance(3600)
    assert len(await events(rb, inc["id"], "response.breached")) == 1
    assert len(await events(rb, inc["id"], "response.deferred")) == 1


async def test_a_breach_outside_any_window_is_not_deferred(fakes: Any, make_runbookd: Any, tmp_path: Path) -> None:
    """A window for other alerts changes nothing: the incident breaches at its 15 minutes."""
    rb = await make_runbookd(fakes, rule_files=rules_with_target(tmp_path))
    await create_window(rb, ['alertname="SomethingElse"'])
    inc = await fire(rb, "RiskEngineDown", **RISK)
    await rb.advance(15 * 60)
    assert len(await events(rb, inc["id"], "response.breached")) == 1
    assert await events(rb, inc["id"], "response.deferred") == []
