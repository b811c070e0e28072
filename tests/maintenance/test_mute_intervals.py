"""``mute_time_intervals`` on escalation steps and receivers (Alertmanager's time_intervals syntax): a page
inside the interval waits, recorded, and goes out once when the interval ends."""

from __future__ import annotations

from typing import Any

from tests.maintenance.conftest import RULES, events, fire, top_level_pages

#: T0 of the fake clock is Friday 2027-01-15 08:00 UTC.
SATURDAY = 16 * 3600.0
MONDAY = SATURDAY + 48 * 3600.0


async def test_step_muted_on_the_weekend_pages_on_monday(fakes: Any, make_runbookd: Any) -> None:
    """A P3 opening on Saturday (its step mutes ``weekend``) pages no one until Monday 00:00 UTC, then once."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    rb.clock.advance(SATURDAY + 60)
    inc = await fire(rb, "BatchLate", fingerprint="5555eeee6666ffff")
    [muted] = await events(rb, inc["id"], "notify.muted")
    assert muted["data"]["intervals"] == ["weekend"]
    assert muted["data"]["until"] == rb.clock.now() - SATURDAY - 60 + MONDAY
    await rb.advance(MONDAY - SATURDAY - 61)
    assert top_level_pages(fakes, "#monitoring") == []
    await rb.advance(1)
    assert len(top_level_pages(fakes, "#monitoring")) == 1
    await rb.advance(7 * 86400)
    assert len(top_level_pages(fakes, "#monitoring")) == 1


async def test_step_outside_its_mute_interval_pages_at_once(fakes: Any, make_runbookd: Any) -> None:
    """The same P3 on a Friday pages at once."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    inc = await fire(rb, "BatchLate", fingerprint="5555eeee6666ffff")
    assert len(top_level_pages(fakes, "#monitoring")) == 1
    assert await events(rb, inc["id"], "notify.muted") == []


async def test_receiver_muted_at_night_pages_at_midnight(fakes: Any, make_runbookd: Any) -> None:
    """A receiver with ``mute_time_intervals: [nights]`` (20:00-24:00 UTC) gets a 20:30 page at 24:00."""
    rb = await make_runbookd(fakes, rule_files=RULES)
    rb.clock.advance(12.5 * 3600)
    inc = await fire(rb, "ReportLate", fingerprint="7777aaaa8888bbbb")
    [muted] = await events(rb, inc["id"], "notify.muted")
    assert muted["data"]["intervals"] == ["nights"]
    await rb.advance(3.5 * 3600 - 1)
    assert top_level_pages(fakes, "#reports") == []
    await rb.advance(1)
    assert len(top_level_pages(fakes, "#reports")) == 1
