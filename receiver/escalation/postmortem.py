"""The post-mortem draft (Markdown) and the INCIDENT REPORT (text) of an incident, from its own timeline.

The post-mortem follows seed 000's "Incident Report Template" and seed 004's "Post-Mortem Template":
summary, start/end/duration (UTC), detection, the timeline, actions taken with their results,
notifications, who acknowledged and when, resolution, then root cause, impact, lessons learned and
action items as checklists to fill in. The report is seed 003's INCIDENT REPORT. Both are rendered from
the templates ``postmortem.md.j2`` and ``report.txt.j2`` over ``incident_context`` (pure: no I/O).
"""

from __future__ import annotations

from receiver.clock import format_utc as format_time
from receiver.escalation.context import incident_context
from receiver.escalation.templates import Templates
from receiver.model import Incident, TimelineEvent

POSTMORTEM_TEMPLATE = "postmortem.md.j2"
REPORT_TEMPLATE = "report.txt.j2"


def render_postmortem(incident: Incident, timeline: list[TimelineEvent], templates: Templates, now: float, *,
                      external_url: str | None = None, respond_within: float | None = None) -> str:
    """The Markdown post-mortem draft of ``incident``; ``now`` (epoch seconds) dates the draft.

    ``timeline`` is the incident's events (any order; shown oldest first). ``external_url`` (runbookd's
    base URL) adds links to the incident. An open incident gets a draft too, marked ongoing.
    ``respond_within`` (seconds) is the severity's response target the times are shown against.
    """
    ctx = incident_context(incident, timeline, now, external_url=external_url, respond_within=respond_within)
    return templates.render(POSTMORTEM_TEMPLATE, **ctx)


def render_report(incident: Incident, timeline: list[TimelineEvent], templates: Templates, now: float, *,
                  external_url: str | None = None) -> str:
    """Seed 003's INCIDENT REPORT for ``incident`` as plain text (``Status`` follows the incident's state)."""
    ctx = incident_context(incident, timeline, now, external_url=external_url)
    return templates.render(REPORT_TEMPLATE, **ctx)


def postmortem_filename(incident: Incident) -> str:
    """A file name for the draft, e.g. ``postmortem-20270115-<incident id>.md`` (for a Slack upload)."""
    day = format_time(incident.started_at)[:10].replace("-", "")
    return f"postmortem-{day}-{incident.id}.md"
