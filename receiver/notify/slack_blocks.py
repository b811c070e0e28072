"""Slack message formatting: pure functions from a ``Message`` to Block Kit blocks and fallback text.

API followed: Slack Block Kit (https://api.slack.com/block-kit) and mrkdwn escaping
(https://api.slack.com/reference/surfaces/formatting#escaping). Every alert-supplied string
(labels, annotations, titles) is escaped, so a label cannot mention ``<!channel>`` or forge a link.
Limits kept: header 150 characters, section text 3000, 10 fields per section of 2000 each.
"""

from __future__ import annotations

from typing import Any

from receiver.clock import format_utc as format_time
from receiver.durations import humanize_duration as format_duration
from receiver.notify.base import Message

SEVERITY_EMOJI = {"P0": "🔴", "P1": "🟠", "P2": "🟡", "P3": "🔵"}
ACK_ACTION_ID = "incident_ack"
RESOLVE_ACTION_ID = "incident_resolve"
_MAX_LABEL_FIELDS = 20
_SECTION_MAX = 3000
_FIELD_MAX = 2000
_HEADER_MAX = 150

Block = dict[str, Any]


def escape(text: str) -> str:
    """Escape Slack's mrkdwn control characters ``&``, ``<`` and ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"






def state_word(message: Message) -> str:
    """The incident state shown in headers: ``FIRING``, ``ACKNOWLEDGED`` or ``RESOLVED``."""
    return (message.status or "firing").upper()


def headline(message: Message) -> str:
    """``🔴 P0 FIRING — TradingSystemDown`` (plain text, not escaped)."""
    emoji = "✅" if message.status == "resolved" else SEVERITY_EMOJI.get(message.severity, "⚪")
    return f"{emoji} {message.severity} {state_word(message)} — {message.title}"


def page_text(message: Message) -> str:
    """The page's fallback text (notifications, screen readers): headline and summary, escaped."""
    text = headline(message)
    if message.summary:
        text += f": {message.summary}"
    if message.dry_run:
        text = "[DRY-RUN] " + text
    return escape(_cut(text, _SECTION_MAX))


def update_text(message: Message) -> str:
    """A thread reply for a status update: ``message.text`` or the state and the playbook so far."""
    if message.text:
        return escape(_cut(message.text, _SECTION_MAX))
    lines = [f"*Status update* — {escape(state_word(message))}"]
    lines += [f"• {escape(a)}" for a in message.actions]
    return _cut("\n".join(lines), _SECTION_MAX)


def template_text(rendered: str) -> str:
    """A rendered message template as a thread reply: surrounding blank lines dropped, escaped, cut to 3000."""
    return escape(_cut(rendered.strip("\n"), _SECTION_MAX))


def resolved_text(message: Message) -> str:
    """The thread reply on resolve: ``✅ RESOLVED — <title> after <duration>``."""
    text = f"✅ RESOLVED — {escape(message.title)}"
    if message.resolved_at is not None and message.started_at:
        text += f" after {format_duration(message.resolved_at - message.started_at)}"
    if message.text:
        text += "\n" + escape(message.text)
    return _cut(text, _SECTION_MAX)


def _link(url: str, label: str) -> str | None:
    """A mrkdwn link, or None for anything but an http(s) URL."""
    if not url.startswith(("http://", "https://")):
        return None
    return f"<{escape(url).replace('|', '%7C')}|{escape(label)}>"


def _label_sections(labels: dict[str, str]) -> list[Block]:
    items = sorted(labels.items())
    shown, hidden = items[:_MAX_LABEL_FIELDS], len(items) - _MAX_LABEL_FIELDS
    fields = [{"type": "mrkdwn", "text": _cut(f"*{escape(k)}*\n{escape(v)}", _FIELD_MAX)} for k, v in shown]
    blocks: list[Block] = [{"type": "section", "fields": fields[i : i + 10]} for i in range(0, len(fields), 10)]
    if hidden > 0:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"… and {hidden} more labels"}]})
    return blocks


def _context(message: Message) -> Block:
    parts = [f"Incident `{escape(message.incident_id)}`"]
    if message.started_at:
        parts.append(f"started {format_time(message.started_at)}")
    if message.acknowledged_by:
        parts.append(f"acknowledged by {escape(message.acknowledged_by)}")
    if message.status == "resolved" and message.resolved_at is not None:
        parts.append(f"resolved {format_time(message.resolved_at)}")
    if message.incident_url and (link := _link(message.incident_url, "details")):
        parts.append(link)
    if message.dry_run:
        parts.append("*DRY-RUN*: no action was executed")
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(parts)}]}


def _buttons(message: Message) -> Block | None:
    """Acknowledge and Resolve while firing; only Resolve once acknowledged; none once resolved."""
    elements: list[Block] = []
    if message.status == "firing":
        elements.append(
            {
                "type": "button",
                "action_id": ACK_ACTION_ID,
                "value": message.incident_id,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Acknowledge"},
            }
        )
    if message.status in ("firing", "acknowledged"):
        elements.append(
            {
                "type": "button",
                "action_id": RESOLVE_ACTION_ID,
                "value": message.incident_id,
                "style": "danger",
                "text": {"type": "plain_text", "text": "Resolve"},
            }
        )
    return {"type": "actions", "block_id": "incident_actions", "elements": elements} if elements else None


def page_blocks(message: Message) -> list[Block]:
    """The Block Kit blocks of an incident's page, in its current state.

    Header (severity, state, title); summary and description; labels as fields; runbook link;
    playbook steps so far; context (incident id, start time UTC, ack, DRY-RUN marker); buttons
    (``incident_ack`` / ``incident_resolve``, value = incident id) while not resolved.
    """
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(headline(message), _HEADER_MAX)}}
    ]
    lines = [f"*{escape(message.summary)}*"] if message.summary else []
    lines += [escape(message.description)] if message.description else []
    body = "\n".join(lines)
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, _SECTION_MAX)}})
    if message.labels:
        blocks += _label_sections(message.labels)
    if message.runbook_url and (link := _link(message.runbook_url, "Runbook")):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"📖 {link}"}})
    if message.actions:
        steps = "\n".join(f"• {escape(a)}" for a in message.actions)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(f"*Playbook*\n{steps}", _SECTION_MAX)},
            }
        )
    blocks.append(_context(message))
    if (buttons := _buttons(message)) is not None:
        blocks.append(buttons)
    return blocks
