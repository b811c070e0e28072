"""Who acts on Slack, and the ``/runbookd`` slash command (https://api.slack.com/interactivity/slash-commands).

``SlackAccess`` maps a verified Slack user to an actor (``receiver.access.Directory``) and refuses
what their role does not allow: the refusal is recorded (on the incident's timeline when the request
names one, else in the audit log), the caller alone sees it (ephemeral, through the interaction's
``response_url`` for buttons, in the answer for commands), and nothing else changes.

``/runbookd incidents | ack ID | resolve ID | pause [reason] | resume | status | run PLAYBOOK
[label=value …] | maintenance start|list|end … (receiver.maintenance.command) | oncall [SCHEDULE] |
override … (receiver.api.oncall_command) | help``: answered
within Slack's 3 seconds in the HTTP response; ``response_type`` ``ephemeral`` for what only the caller
needs (help, lists, refusals) and ``in_channel`` for changes the channel must see (ack, resolve,
pause, resume, run). ``run`` opens a manual incident (``receiver.playbooks.manual``) whose steps go
through their approvals; its progress is on the incident's timeline and in the channel's approval
requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from slack_sdk.webhook.async_client import AsyncWebhookClient

from receiver.access.people import Actor, Directory
from receiver.access.roles import allows, needed_role
from receiver.api import oncall_command
from receiver.api.admin import set_pause
from receiver.api.auth import acting, record_refusal
from receiver.durations import format_duration
from receiver.incidents.lifecycle import acknowledge, resolve_manually
from receiver.maintenance import command as maintenance_command
from receiver.playbooks import manual
from receiver.playbooks.gates import paused
from receiver.store.base import Store

log = structlog.get_logger("runbookd.slack")
USAGE = ("usage: /runbookd incidents | ack ID | resolve ID | pause [reason] | resume | status | "
         "run PLAYBOOK [label=value ...] | maintenance start DURATION|until TIME MATCHER... -- REASON | "
         "maintenance list | maintenance end ID | oncall [SCHEDULE] | override SCHEDULE PERSON FROM UNTIL | help\n"
         "ack/resolve need role responder; pause/resume/run/maintenance start and end/override admin (docs/access.md)")
#: Seconds a refusal may spend reaching the caller's ``response_url``.
RESPONSE_TIMEOUT = 2.0


def ephemeral(text: str) -> web.Response:
    """A slash-command answer only the caller sees."""
    return web.json_response({"response_type": "ephemeral", "text": text})


def in_channel(text: str) -> web.Response:
    """A slash-command answer the whole channel sees."""
    return web.json_response({"response_type": "in_channel", "text": text})


class SlackAccess:
    """Role checks of Slack buttons and the slash command, over ``directory``."""

    def __init__(self, store: Store, directory: Directory, clock: Any, rules: Callable[[], Any],
                 wake: Callable[[], None]) -> None:
        self.store = store
        self.directory = directory
        self.clock = clock
        self.rules = rules
        self.wake = wake

    async def check(self, user_id: str, display: str, action: str, *, incident_id: str | None,
                    response_url: str | None = None) -> tuple[Actor | None, str]:
        """(the actor, ``""``) when they may do ``action``; else (actor or ``None``, refusal text), the
        refusal recorded and, with ``response_url``, shown to the caller alone."""
        actor = await self.directory.slack(user_id, display) if user_id or self.directory.legacy else None
        if actor is not None and allows(actor.role, action):
            return actor, ""
        name = actor.name if actor else f"{display} ({user_id})" if user_id and user_id not in display else display
        reason = (f"{action} needs role {needed_role(action)}, {name} is {actor.role}" if actor else
                  f"{name} is not a known person of runbookd (access: in runbookd.yml)")
        now = self.clock.now()
        await self.store.transaction(lambda tx: record_refusal(tx, name, action, reason, now, via="slack",
                                                               incident_id=incident_id, slack_user=user_id))
        log.warning("access refused", actor=name, action=action, via="slack")
        if response_url:
            await self._tell(response_url, f"Refused: {reason}. Nothing was changed.")
        return actor, reason

    async def _tell(self, url: str, text: str) -> None:
        try:
            await AsyncWebhookClient(url, timeout=int(RESPONSE_TIMEOUT) or 1).send(
                text=text, response_type="ephemeral", replace_original=False)
        except Exception as e:  # the refusal is recorded; telling the caller is best effort
            log.warning("cannot answer through response_url", error=str(e))

    async def command(self, form: dict[str, str]) -> web.Response:
        """Answer one verified ``/runbookd`` invocation (``form``: Slack's form fields)."""
        words = form.get("text", "").strip().split()
        verb = words[0].lower() if words else "help"
        user_id = form.get("user_id", "")
        display = form.get("user_name") or user_id or "someone on Slack"
        if verb == "help" or verb not in ("incidents", "ack", "resolve", "pause", "resume", "status", "run",
                                          "maintenance", "oncall", "override"):
            return ephemeral(USAGE if verb == "help" else f"unknown subcommand {verb!r}\n{USAGE}")
        text = form.get("text", "").strip()
        action = {"incidents": "view", "status": "view", "oncall": "view", "override": "oncall"}.get(verb, verb)
        if verb == "maintenance":
            action = maintenance_command.action_of(text)
        target = words[1] if verb in ("ack", "resolve") and len(words) > 1 else None
        if verb in ("ack", "resolve") and target is None:
            return ephemeral(f"usage: /runbookd {verb} ID")
        labels = manual.parse_labels(words[2:])
        if verb == "run" and (len(words) < 2 or isinstance(labels, str)):
            return ephemeral(labels if isinstance(labels, str) and len(words) > 1 else
                             "usage: /runbookd run PLAYBOOK [label=value ...]")
        actor, refusal = await self.check(user_id, display, action, incident_id=target)
        if refusal or actor is None:
            return ephemeral(f"Refused: {refusal}. Nothing was changed.")
        by = f"{display} ({user_id})" if actor.legacy else actor.name
        now = self.clock.now()
        if verb == "incidents":
            return ephemeral(await self._incidents(now))
        if verb == "maintenance":
            changed, answer = await self.store.transaction(
                acting(actor.name, lambda tx: maintenance_command.run(tx, text, by=by, now=now)))
            if changed:
                self.wake()
            return in_channel(answer) if changed else ephemeral(answer)
        if verb == "oncall":
            return ephemeral(await oncall_command.oncall(self.store, self.rules(), words, now))
        if verb == "override":
            made, answer = await oncall_command.override(self.store, self.rules(), text, by=by, now=now)
            return in_channel(answer) if made else ephemeral(answer)
        if verb == "status":
            state = await self.store.read(paused)
            counts = await self.store.read(lambda tx: tx.open_counts())
            open_text = ", ".join(f"{n} {sev}" for sev, n in sorted(counts.items())) or "none"
            return ephemeral(_automation(state) + f" Open incidents: {open_text}.")
        if verb in ("pause", "resume"):
            state = await set_pause(self.store, verb == "pause", by=by, reason=" ".join(words[1:]), via="slack",
                                    now=now, actor=actor.name)
            return in_channel(_automation(state))
        if verb == "run":
            assert isinstance(labels, dict)
            rules, name = self.rules(), words[1]
            started = await self.store.transaction(lambda tx: manual.start(tx, rules, name, labels, by=by, via="slack",
                                                                           now=now))
            if not started.ok or started.incident is None:
                return ephemeral(f"Cannot run: {started.reason}")
            self.wake()
            return in_channel(f"Manual run of playbook '{name}' started by {by} as incident {started.incident.id}; "
                              "its steps and approvals follow on the incident's timeline.")
        assert target is not None
        fn = acknowledge if verb == "ack" else resolve_manually
        rules = self.rules()
        change = await self.store.transaction(lambda tx: fn(tx, target, by=by, via="slack", now=now, rules=rules))
        if not change.ok:
            return ephemeral(f"Cannot {verb} {target}: {change.reason}")
        self.wake()
        done = "acknowledged" if verb == "ack" else "resolved"
        return in_channel(f"{target} {done} by {by}" + (f" ({change.reason})" if change.reason else ""))

    async def _incidents(self, now: float) -> str:
        def open_ones(tx: Any) -> list[Any]:
            return [i for s in ("firing", "acknowledged")
                    for i in tx.list_incidents(status=s, alertname=None, limit=50)]

        rows = await self.store.read(open_ones)
        if not rows:
            return "No open incidents."
        rows.sort(key=lambda i: (i.severity, i.started_at))
        return "\n".join(f"{i.severity} {i.id} {i.status}, {format_duration(max(0.0, now - i.started_at))} old: "
                         f"{i.title}" for i in rows)


def _automation(state: dict[str, Any] | None) -> str:
    if not state:
        return "Automation is running."
    since = time.strftime("%H:%M UTC", time.gmtime(float(state.get("at") or 0)))
    reason = f": {state['reason']}" if state.get("reason") else ""
    return (f"Automation is PAUSED by {state.get('by')} since {since}{reason}; playbook steps are skipped and "
            "incidents paged.")
