"""The post-mortem draft and the INCIDENT REPORT are built from the incident's own timeline."""

from __future__ import annotations

import random
import re

from receiver.escalation.postmortem import postmortem_filename, render_postmortem, render_report
from receiver.escalation.templates import Templates
from receiver.model import TimelineEvent
from tests.escalation.conftest import T0, sample_alert, sample_incident, sample_timeline


def section(markdown: str, title: str) -> str:
    """The body of the ``## title`` section (up to the next ``## ``)."""
    start = markdown.index(f"\n## {title}\n") + len(title) + 5
    end = markdown.find("\n## ", start)
    return markdown[start: end if end != -1 else None]


def table_rows(text: str) -> list[list[str]]:
    """The data rows of the Markdown table(s) in ``text``, cells stripped."""
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows[1:]]


def draft(templates: Templates, **incident: object) -> str:
    return render_postmortem(sample_incident(**incident), sample_timeline(), templates, T0 + 900,
                             external_url="http://127.0.0.1:9096/")


def test_the_draft_has_the_summary_start_end_and_duration(templates: Templates) -> None:
    md = draft(templates)
    assert md.startswith("# Post-mortem (draft): TradingSystemDown\n")
    summary = section(md, "Incident Summary")
    assert "- **Severity**: P0\n" in summary
    assert "- **Rule**: `trading-system-down`, playbook `emergency-halt`\n" in summary
    assert "- **Start Time**: 2027-01-15 08:00:00 UTC\n" in summary
    assert "- **End Time**: 2027-01-15 08:12:05 UTC\n" in summary
    assert "- **Duration**: 12m 5s\n" in summary
    assert "- **Summary**: Trading system is down\n" in summary
    assert "- **Description**: No heartbeat from execution for 2m\n" in summary
    assert "- **Runbook**: https://runbooks.example/trading-down\n" in summary
    assert ("| TradingSystemDown | resolved | 2027-01-15 07:59:30 UTC | 2027-01-15 08:12:00 UTC | "
            "`alertname=TradingSystemDown` `instance=engine-1:8000` `job=trading-engine` |") in summary


def test_the_timeline_lists_every_event_in_order_with_utc_times(templates: Templates) -> None:
    md = render_postmortem(sample_incident(), sample_timeline(), templates, T0 + 900)
    timeline = section(md, "Timeline")
    assert "- **Detection**: 2027-01-15 07:59:30 UTC (first alert fired; received by runbookd " \
           "2027-01-15 08:00:00 UTC)\n" in timeline
    assert "- **Acknowledged**: 2027-01-15 08:05:00 UTC by alice via slack (5m after the start)\n" in timeline
    assert "- **Mitigation**: 2027-01-15 08:00:01 UTC (first playbook step that succeeded)\n" in timeline
    assert "- **Resolution**: 2027-01-15 08:12:05 UTC — all alerts resolved after 725s\n" in timeline
    rows = table_rows(timeline)
    assert [(r[0], r[1]) for r in rows] == [
        ("2027-01-15 08:00:00 UTC", "`alert.firing`"),
        ("2027-01-15 08:00:00 UTC", "`rule.matched`"),
        ("2027-01-15 08:00:00 UTC", "`incident.opened`"),
        ("2027-01-15 08:00:01 UTC", "`step.started`"),
        ("2027-01-15 08:00:01 UTC", "`step.ok`"),
        ("2027-01-15 08:00:02 UTC", "`notify.ok`"),
        ("2027-01-15 08:00:02 UTC", "`notify.ok`"),
        ("2027-01-15 08:00:03 UTC", "`step.started`"),
        ("2027-01-15 08:00:04 UTC", "`step.failed`"),
        ("2027-01-15 08:05:00 UTC", "`incident.acknowledged`"),
        ("2027-01-15 08:12:00 UTC", "`alert.resolved`"),
        ("2027-01-15 08:12:05 UTC", "`incident.resolved`"),
    ]
    assert rows[4][2] == "step 'stop-trading' (http): ok — POST http://trading/halt -> 200"


def test_events_given_out_of_time_order_are_shown_oldest_first(templates: Templates) -> None:
    distinct = [e for i, e in enumerate(sample_timeline()) if i in (0, 4, 5, 8, 9, 11)]
    shuffled = list(distinct)
    random.Random(7).shuffle(shuffled)
    assert shuffled != distinct
    md = render_postmortem(sample_incident(), shuffled, templates, T0 + 900)
    assert [r[1] for r in table_rows(section(md, "Timeline"))] == [f"`{e.kind}`" for e in distinct]


def test_actions_taken_are_the_steps_with_their_results(templates: Templates) -> None:
    actions = section(draft(templates), "Actions Taken")
    assert actions.strip().splitlines() == [
        "1. **stop-trading** (`http`) at 2027-01-15 08:00:01 UTC: **ok** — POST http://trading/halt -> 200",
        "2. **cancel-orders** (`alpaca.cancel_all_orders`) at 2027-01-15 08:00:04 UTC: **failed** — 403 forbidden",
    ]


def test_notifications_are_listed_with_receiver_and_reference(templates: Templates) -> None:
    rows = table_rows(section(draft(templates), "Notifications"))
    assert rows == [
        ["2027-01-15 08:00:02 UTC", "critical", "slack", "page", "ok", "`C0CRIT:1700000000.000101`"],
        ["2027-01-15 08:00:02 UTC", "oncall-pd", "pagerduty", "page", "ok", "`runbookd-018d2c3e4f50a1b2c3d4`"],
    ]


def test_the_acknowledgement_says_who_how_and_when(templates: Templates) -> None:
    ack = section(draft(templates), "Acknowledgement")
    assert ack.strip() == "- Acknowledged by **alice** via slack at 2027-01-15 08:05:00 UTC (5m after the start)"


def test_an_unacknowledged_incident_says_so(templates: Templates) -> None:
    timeline = [e for e in sample_timeline() if e.kind != "incident.acknowledged"]
    md = render_postmortem(sample_incident(acknowledged_at=None, acknowledged_by=None), timeline, templates, T0)
    assert section(md, "Acknowledgement").strip() == "- Not acknowledged."
    assert "- **Acknowledged**: never\n" in section(md, "Timeline")


def test_the_sections_people_fill_in_are_checklists(templates: Templates) -> None:
    md = draft(templates)
    assert "- [ ] **Primary Cause**:" in section(md, "Root Cause Analysis")
    assert "- [ ] **Detection Method**: alert `TradingSystemDown` matched rule `trading-system-down`" in md
    assert "- [ ] What went well:" in section(md, "Lessons Learned")
    assert "- [ ] Update runbooks" in section(md, "Action Items")
    for title in ("Incident Summary", "Timeline", "Actions Taken", "Notifications", "Acknowledgement",
                  "Resolution", "Root Cause Analysis", "Impact Assessment", "Lessons Learned", "Action Items"):
        assert f"\n## {title}\n" in md


def test_an_open_incident_gets_a_draft_marked_ongoing(templates: Templates) -> None:
    inc = sample_incident(status="firing", resolved_at=None)
    timeline = [e for e in sample_timeline() if e.kind not in ("alert.resolved", "incident.resolved")]
    md = render_postmortem(inc, timeline, templates, T0 + 3600)
    assert "- **End Time**: ongoing\n" in md and "- **Duration**: 1h (ongoing)\n" in md
    assert section(md, "Resolution").startswith("- Not resolved yet.")


def test_alert_data_in_the_draft_is_literal_and_cannot_break_the_tables(templates: Templates) -> None:
    alert = sample_alert(labels={"alertname": "X|Y", "team": "{{ 7*7 }}"},
                         annotations={"summary": "a | b\nc"})
    events = [TimelineEvent(T0, "alert.firing", "alert X|Y firing\nsecond line", {})]
    md = render_postmortem(sample_incident(alerts=(alert,)), events, templates, T0 + 60)
    assert "`team={{ 7*7 }}`" in md and "49" not in md
    assert "| 2027-01-15 08:00:00 UTC | `alert.firing` | alert X\\|Y firing second line |" in md
    assert "- **Summary**: a \\| b c\n" in md


def test_a_step_cut_off_by_a_crash_counts_once(templates: Templates) -> None:
    ev = TimelineEvent
    retried = [
        ev(T0 + 1, "step.interrupted", "step 'halt' was cut off by a crash; retrying (the action is idempotent)",
           {"step": "halt", "action": "http"}),
        ev(T0 + 2, "step.ok", "step 'halt' (http): ok — 200", {"step": "halt", "action": "http", "outcome": "ok"}),
        ev(T0 + 3, "step.interrupted", "step 'notify-desk' was cut off by a crash; outcome unknown, not retried",
           {"step": "notify-desk", "action": "command"}),
    ]
    actions = section(render_postmortem(sample_incident(), retried, templates, T0 + 60), "Actions Taken")
    assert actions.strip().splitlines() == [
        "1. **halt** (`http`) at 2027-01-15 08:00:02 UTC: **ok** — 200",
        "2. **notify-desk** (`command`) at 2027-01-15 08:00:03 UTC: **unknown** — step 'notify-desk' was cut off "
        "by a crash; outcome unknown, not retried",
    ]


def test_the_incident_report_uses_the_same_timeline(templates: Templates) -> None:
    text = render_report(sample_incident(), sample_timeline(), templates, T0 + 900,
                         external_url="http://127.0.0.1:9096")
    assert text.startswith("INCIDENT REPORT\n===============\n")
    assert "Severity: P0\nStatus: Resolved\n" in text
    assert "Summary:\nTradingSystemDown: Trading system is down\n" in text
    assert "Duration: 12m 5s\n" in text
    assert "- Complete the post-mortem: http://127.0.0.1:9096/incidents/018d2c3e4f50a1b2c3d4/postmortem\n" \
        in text


def test_an_operator_postmortem_template_is_used(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "postmortem.md.j2").write_text("# {{ title }}\n{% for s in steps %}- {{ s.name }}: {{ s.outcome }}\n"
                                             "{% endfor %}")
    md = render_postmortem(sample_incident(), sample_timeline(), Templates(folder), T0 + 900)
    assert md == "# TradingSystemDown\n- stop-trading: ok\n- cancel-orders: failed\n"


def test_the_draft_file_name_has_the_day_and_incident_id() -> None:
    assert postmortem_filename(sample_incident()) == "postmortem-20270115-018d2c3e4f50a1b2c3d4.md"
