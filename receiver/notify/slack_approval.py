"""Block Kit of an approval request: what the step will do, who may answer, and the two buttons.

Button values are ``<incident id>|<step index>`` with action ids ``step_approve`` / ``step_reject``
(handled by ``receiver.api.slack``). Every alert-derived string is escaped for mrkdwn.
"""

from __future__ import annotations

import json
from typing import Any

from receiver.clock import iso
from receiver.notify.base import Message


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def approval_text(message: Message) -> str:
    """The plain-text fallback of an approval request."""
    a = message.approval or {}
    return (f"APPROVAL NEEDED for {message.title}: step '{a.get('step')}' ({a.get('action')}); "
            f"without an answer by {iso(a.get('deadline'))}: {a.get('on_timeout')}")


def approval_blocks(message: Message) -> list[dict[str, Any]]:
    """Blocks asking to approve or reject one step, with its rendered parameters."""
    a = message.approval or {}
    params = json.dumps(a.get("params") or {}, indent=2, sort_keys=True, default=str)
    if len(params) > 2500:
        params = params[:2500] + "\n…"
    who = ", ".join(a.get("approvers") or []) or "anyone in this channel"
    value = f"{message.incident_id}|{a.get('index')}"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            f":raised_hand: *Approval needed* — {_esc(message.severity)} {_esc(message.title)}\n"
            f"Step *{_esc(str(a.get('step')))}* (`{_esc(str(a.get('action')))}`) waits for approval."
            + (" _(dry-run: nothing will be executed)_" if message.dry_run else ""))}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{_esc(params)}```"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"May answer: {_esc(who)} · without an answer by {iso(a.get('deadline'))}: "
            f"*{_esc(str(a.get('on_timeout')))}*")}]},
        {"type": "actions", "elements": [
            {"type": "button", "action_id": "step_approve", "style": "primary", "value": value,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": "step_reject", "style": "danger", "value": value,
             "text": {"type": "plain_text", "text": "Reject"}},
        ]},
    ]
