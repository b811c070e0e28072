"""Slack's rate limit (one message per second per channel after a short burst) holds pages back as rows
due later, driven by the fake clock through the real slack-sdk client and the fake Slack server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from receiver.notify.slack import POST_BURST
from tests.conftest import alert, payload
from tests.incidents.test_pipeline import _p, top_level_pages

RULES = """
rules:
  - name: storm
    matchers: ['alertname="Storm"']
    severity: P1
    group_by: [alertname, instance]
receivers:
  - name: slack-alerts
    slack: {channel: "#alerts"}
  - name: slack-other
    slack: {channel: "#other"}
escalation_policies:
  P1:
    steps:
      - after: 0s
        notify: [slack-alerts]
    updates:
      every: 30m
      notify: [slack-alerts]
  P2:
    steps:
      - after: 0s
        notify: [slack-other]
"""


async def storm(make_runbookd: Any, fakes: Any, tmp_path: Path, n: int) -> Any:
    """``n`` incidents (one per instance) that each page #alerts at the same instant."""
    rules = tmp_path / "storm.yml"
    rules.write_text(RULES)
    rb = await make_runbookd(fakes, rule_files=[str(rules)])
    alerts = [alert("Storm", fingerprint=f"{i:016x}", instance=f"host-{i}") for i in range(n)]
    assert (await rb.post_alerts(payload(*alerts))).status == 200
    await rb.run()
    return rb


async def test_pages_past_the_burst_go_out_one_per_second(fakes: Any, make_runbookd: Any, tmp_path: Path) -> None:
    """Six pages due at once to one channel: the burst goes at once, then one more each second; none lost."""
    rb = await storm(make_runbookd, fakes, tmp_path, POST_BURST + 3)
    assert len(top_level_pages(fakes, "#alerts")) == POST_BURST
    for k in range(1, 4):
        await rb.advance(0.5)
        assert len(top_level_pages(fakes, "#alerts")) == POST_BURST + k - 1
        await rb.advance(0.5)
        assert len(top_level_pages(fakes, "#alerts")) == POST_BURST + k
    await rb.advance(60)
    pages = top_level_pages(fakes, "#alerts")
    assert len(pages) == POST_BURST + 3
    assert len({str(_p(p).get("text")) for p in pages}) == POST_BURST + 3  # one page per incident


async def test_a_held_back_page_is_a_pending_row_not_a_waiting_worker(
        fakes: Any, make_runbookd: Any, tmp_path: Path) -> None:
    """While held back, the page is a pending row due at its slot (the attempt is not counted)."""
    rb = await storm(make_runbookd, fakes, tmp_path, POST_BURST + 1)
    jobs = await rb.c.store.read(lambda tx: [j for i in _incident_ids(tx) for j in tx.jobs_of(i)])
    held = [j for j in jobs if j.kind == "page" and j.state == "pending"]
    assert len(held) == 1
    assert held[0].due_at == rb.clock.now() + 1.0 and held[0].attempts == 0
    assert held[0].payload["rate_slot"] == held[0].due_at


async def test_the_limit_is_per_channel(fakes: Any, make_runbookd: Any, tmp_path: Path) -> None:
    """A full #alerts does not hold back a page to another channel."""
    rb = await storm(make_runbookd, fakes, tmp_path, POST_BURST + 2)
    assert len(top_level_pages(fakes, "#alerts")) == POST_BURST
    other = alert("Storm", fingerprint="f" * 16, instance="elsewhere", severity="P2")
    rules = (tmp_path / "storm.yml")
    rules.write_text(RULES.replace("    group_by: [alertname, instance]\n",
                                   "    group_by: [alertname, instance]\n"
                                   "  - name: other\n    matchers: ['alertname=\"Other\"']\n    severity: P2\n"))
    assert (await rb.api_post("/-/reload")).status == 200
    other["labels"]["alertname"] = "Other"
    await rb.post_alerts(payload(other))
    await rb.run()
    assert len(top_level_pages(fakes, "#other")) == 1
    assert len(top_level_pages(fakes, "#alerts")) == POST_BURST


async def test_a_held_back_status_update_is_sent_at_its_slot_once(
        fakes: Any, make_runbookd: Any, tmp_path: Path) -> None:
    """A status update (a row fanning out to several receivers) that finds the channel's burst used
    leaves a ``notice`` row of the receiver with its text, sent at the slot; the update is not lost
    nor sent twice, and the next update is still planned."""
    rb = await storm(make_runbookd, fakes, tmp_path, 1)
    await rb.advance(1799.5)
    more = [alert("Storm", fingerprint=f"{i:016x}", instance=f"late-{i}") for i in range(100, 100 + POST_BURST)]
    await rb.post_alerts(payload(*more))
    await rb.run()
    assert len(top_level_pages(fakes, "#alerts")) == 1 + POST_BURST
    await rb.advance(0.5)  # the first incident's update is due: the burst is used up
    assert updates(fakes) == []
    jobs = await rb.c.store.read(lambda tx: [j for i in _incident_ids(tx) for j in tx.jobs_of(i)])
    [held] = [j for j in jobs if j.kind == "notice"]
    assert held.state == "pending" and held.payload["text"].startswith("Status update:")
    assert any(j.kind == "update" and j.state == "pending" and j.payload["n"] == 2 for j in jobs)
    await rb.advance(0.5)
    assert len(updates(fakes)) == 1
    await rb.advance(60)
    assert len(updates(fakes)) == 1


def updates(fakes: Any) -> list[dict[str, Any]]:
    return [_p(r) for r in fakes.slack.calls("/api/chat.postMessage")
            if _p(r).get("thread_ts") and "Status update:" in str(_p(r))]


def _incident_ids(tx: Any) -> list[str]:
    return [i.id for i in tx.list_incidents(status=None, alertname=None, limit=100)]
