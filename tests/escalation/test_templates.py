"""Message templates: the seed formats, operator overrides, check(), and alert data kept as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.escalation.context import sample_contexts
from receiver.escalation.templates import (
    TEMPLATE_NAMES,
    Templates,
    deadman_context,
    digest_context,
    format_duration,
    format_time,
    incident_context,
    message_context,
)
from tests.escalation.conftest import T0, sample_alert, sample_incident, sample_timeline
from tests.notify.conftest import make_message


def lines_starting(text: str, *prefixes: str) -> list[str]:
    """The first word(s) of each line that starts with one of ``prefixes``, in order."""
    return [p for line in text.splitlines() for p in prefixes if line.startswith(p)]


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_default_template_renders_a_sample_without_none_or_leftover_syntax(
    templates: Templates, name: str
) -> None:
    text = templates.render(name, **sample_contexts()[name])
    assert text.strip()
    assert "None" not in text and "{{" not in text and "{%" not in text


def test_the_defaults_pass_check(templates: Templates) -> None:
    assert templates.check() == []


def test_the_initial_alert_follows_seed_004(templates: Templates) -> None:
    text = templates.render_message("alert.txt.j2", make_message())
    assert text.startswith("🚨 INCIDENT ALERT 🚨\n")
    assert lines_starting(text, "Severity:", "Service:", "Issue:", "Impact:", "Status:", "ETA:", "Contact:") == [
        "Severity:", "Service:", "Issue:", "Impact:", "Status:", "ETA:", "Contact:"]
    assert "Severity: P0\n" in text and "Service: execution\n" in text
    assert "Issue: TradingSystemDown — Trading system is down\n" in text
    assert "Status: INVESTIGATING\n" in text
    assert "Runbook: https://runbooks.example.com/trading-down\n" in text


def test_the_status_update_follows_seed_004_and_says_how_long_it_has_been_open(templates: Templates) -> None:
    msg = make_message(kind="update", text="failover in progress")
    text = templates.render_message("update.txt.j2", msg, now=T0 + 1800)
    assert text.startswith("📊 INCIDENT UPDATE 📊\n")
    assert lines_starting(text, "Incident:", "Status:", "Progress:", "Next Steps:", "ETA:") == [
        "Incident:", "Status:", "Progress:", "Next Steps:", "ETA:"]
    assert "Incident: inc-42 — [P0] TradingSystemDown\n" in text
    assert "Update: failover in progress\n" in text
    assert "  - stop-trading (http): ok — 200\n" in text


def test_the_resolution_notice_follows_seed_004_with_start_end_and_duration(templates: Templates) -> None:
    msg = make_message(kind="resolve", status="resolved", resolved_at=1_800_000_725.0)
    text = templates.render_message("resolved.txt.j2", msg)
    assert text.startswith("✅ INCIDENT RESOLVED ✅\n")
    assert "Duration: 2027-01-15 08:00:00 UTC - 2027-01-15 08:12:05 UTC (12m 5s)\n" in text
    assert lines_starting(text, "Incident:", "Duration:", "Root Cause:", "Resolution:", "Post-mortem:") == [
        "Incident:", "Duration:", "Root Cause:", "Resolution:", "Post-mortem:"]
    assert "Post-mortem: draft at http://127.0.0.1:9096/incidents/inc-42/postmortem\n" in text


def test_a_p3_resolution_needs_no_post_mortem(templates: Templates) -> None:
    msg = make_message(kind="resolve", status="resolved", severity="P3", resolved_at=1_800_000_060.0)
    assert "Post-mortem: not required for P3\n" in templates.render_message("resolved.txt.j2", msg)


def test_the_incident_report_follows_seed_003(templates: Templates) -> None:
    ctx = incident_context(sample_incident(), sample_timeline(), T0 + 800)
    text = templates.render("report.txt.j2", **ctx)
    assert text.startswith("INCIDENT REPORT\n===============\nDate/Time: 2027-01-15 08:00:00 UTC\n")
    assert lines_starting(text, "Severity:", "Status:", "Summary:", "Impact:", "Root Cause:", "Actions Taken:",
                          "Next Steps:") == ["Severity:", "Status:", "Summary:", "Impact:", "Root Cause:",
                                             "Actions Taken:", "Next Steps:"]
    assert "Status: Resolved\n" in text
    assert "1. stop-trading (http) at 2027-01-15 08:00:01 UTC: ok — POST http://trading/halt -> 200\n" in text
    assert "2. cancel-orders (alpaca.cancel_all_orders) at 2027-01-15 08:00:04 UTC: failed — 403 forbidden\n" in text
    assert "3. Acknowledged by alice via slack at 2027-01-15 08:05:00 UTC.\n" in text


def test_an_open_incident_report_is_investigating(templates: Templates) -> None:
    inc = sample_incident(status="firing", resolved_at=None, acknowledged_at=None, acknowledged_by=None)
    text = templates.render("report.txt.j2", **incident_context(inc, [], T0 + 90))
    assert "Status: Investigating\n" in text and "Duration: 1m 30s (ongoing)\n" in text
    assert "- Acknowledge and investigate\n" in text


def test_the_digest_lists_every_incident_of_the_period(templates: Templates) -> None:
    a = sample_incident(severity="P3", title="DiskAlmostFull")
    b = sample_incident(id="b", severity="P3", title="CertExpiresSoon", status="firing", resolved_at=None,
                        started_at=T0 + 3600)
    ctx = digest_context([b, a], since=T0 - 3600, until=T0 + 82800, now=T0 + 82800, external_url="http://rb:9096/")
    text = templates.render("digest.txt.j2", **ctx)
    assert "Period: 2027-01-15 07:00:00 UTC - 2027-01-16 07:00:00 UTC\n" in text
    assert "Incidents: 2 (1 open, 1 resolved)\n" in text
    assert text.index("[P3] DiskAlmostFull — RESOLVED") < text.index("[P3] CertExpiresSoon — FIRING")
    assert "  Details: http://rb:9096/incidents/b\n" in text
    assert "(22h, ongoing)" in text


def test_an_empty_digest_says_so(templates: Templates) -> None:
    text = templates.render("digest.txt.j2", **digest_context([], since=T0, until=T0 + 86400, now=T0 + 86400))
    assert "Incidents: 0 (0 open, 0 resolved)\n" in text and "No incidents in this period." in text


def test_the_dead_mans_switch_says_when_the_heartbeat_was_last_seen(templates: Templates) -> None:
    ctx = deadman_context(heartbeat="Watchdog", last_seen=T0, now=T0 + 725, after=600,
                          external_url="http://rb:9096")
    text = templates.render("deadman.txt.j2", **ctx)
    assert text.startswith("🚨 ALERTING PIPELINE BROKEN 🚨\n")
    assert "since 2027-01-15 08:00:00 UTC (12m 5s ago)" in text
    assert "Expected: at least one every 10m.\n" in text
    assert "http://rb:9096/webhook/alertmanager" in text
    never = templates.render("deadman.txt.j2", **deadman_context(heartbeat="Watchdog", last_seen=None, now=T0,
                                                                 after=600))
    assert "since it started" in never


def test_an_override_replaces_one_template_and_the_others_keep_their_defaults(tmp_path: Path) -> None:
    (tmp_path / "alert.txt.j2").write_text("ALERT {{ severity }}: {{ title }}\n")
    templates = Templates(tmp_path)
    msg = make_message()
    assert templates.render_message("alert.txt.j2", msg) == "ALERT P0: TradingSystemDown\n"
    assert templates.render_message("update.txt.j2", msg).startswith("📊 INCIDENT UPDATE 📊\n")
    assert templates.overridden("alert.txt.j2") and not templates.overridden("update.txt.j2")
    assert templates.check() == []


def test_missing_fields_render_empty_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "alert.txt.j2").write_text("[{{ no_such_field }}][{{ incident.deeper.still }}][{{ labels.nope }}]\n")
    assert Templates(tmp_path).render_message("alert.txt.j2", make_message()) == "[][][]\n"
    assert Templates().render("alert.txt.j2").startswith("🚨 INCIDENT ALERT 🚨\n")


def test_a_syntax_error_in_the_override_folder_is_reported_by_check(tmp_path: Path) -> None:
    (tmp_path / "update.txt.j2").write_text("ok line\n{% if status %}\nnever closed\n")
    errors = Templates(tmp_path).check()
    assert len(errors) == 1
    assert errors[0].startswith(f"{tmp_path / 'update.txt.j2'}:3: template 'update.txt.j2': ")
    assert "endif" in errors[0]


def test_a_template_that_fails_at_render_time_is_reported_by_check(tmp_path: Path) -> None:
    (tmp_path / "resolved.txt.j2").write_text("{{ 1 // 0 }}\n")
    [error] = Templates(tmp_path).check()
    assert error.startswith(f"{tmp_path / 'resolved.txt.j2'}: template 'resolved.txt.j2': fails on a sample")
    assert "ZeroDivisionError" in error


def test_a_missing_templates_dir_is_reported_by_check(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert Templates(missing).check() == [f"{missing}: templates_dir is not a directory"]


def test_a_broken_override_falls_back_to_the_default_so_the_page_still_goes_out(tmp_path: Path) -> None:
    (tmp_path / "alert.txt.j2").write_text("{% for %}\n")
    (tmp_path / "update.txt.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    templates = Templates(tmp_path)
    assert templates.render_message("alert.txt.j2", make_message()).startswith("🚨 INCIDENT ALERT 🚨\n")
    assert templates.render_message("update.txt.j2", make_message()).startswith("📊 INCIDENT UPDATE 📊\n")
    assert len(templates.check()) == 2


def test_label_and_annotation_values_are_data_never_templates(templates: Templates) -> None:
    labels = {"alertname": "X", "team": "{{ 7*7 }}", "x": "{% for i in range(10**9) %}"}
    msg = make_message(labels=labels, summary="{{ 7*7 }}", description="{{ config }}")
    text = templates.render_message("alert.txt.j2", msg)
    assert "team={{ 7*7 }}" in text and "x={% for i in range(10**9) %}" in text
    assert "Issue: TradingSystemDown — {{ 7*7 }}" in text and "Impact: {{ config }}" in text
    assert "49" not in text
    inc = sample_incident(alerts=(sample_alert(labels={"alertname": "{{ 7*7 }}"},
                                               annotations={"summary": "{{ 7*7 }}"}),))
    for name in ("postmortem.md.j2", "report.txt.j2"):
        out = templates.render(name, **incident_context(inc, [], T0 + 800))
        assert "{{ 7*7 }}" in out and "49" not in out


def test_message_context_times_are_utc_and_durations_human() -> None:
    ctx = message_context(make_message(status="acknowledged", acknowledged_by="bob"), now=T0 + 725)
    assert ctx["started_at"] == "2027-01-15 08:00:00 UTC"
    assert ctx["duration"] == "12m 5s"
    assert ctx["phase"] == "MITIGATING" and ctx["state"] == "ACKNOWLEDGED"
    assert ctx["resolved_at"] == "" and ctx["acknowledged_by"] == "bob"
    assert message_context(make_message())["duration"] == ""


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59.6, "1m"), (725, "12m 5s"), (3600, "1h"),
                                                (90061, "1d 1h 1m 1s"), (-5, "0s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_time_is_utc() -> None:
    assert format_time(T0) == "2027-01-15 08:00:00 UTC"
    assert format_time(None) == ""
