"""The one place that builds runbookd's parts and connects them (STYLE.md: like Alertmanager's main).

``build_app(settings)`` returns the aiohttp application: webhook, admin API, operational endpoints,
and — owned by ``cleanup_ctx`` — the store, the shared HTTP client and the dispatcher loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from receiver.access.people import Directory
from receiver.access.slack_groups import slack_group_members
from receiver.actions import alpaca as alpaca_reads
from receiver.actions import build_actions
from receiver.alertmanager_api import AlertmanagerApi
from receiver.api.admin import AdminApi
from receiver.api.auth import ApiAuth
from receiver.api.maintenance import MaintenanceApi
from receiver.api.oncall import OnCallApi
from receiver.api.pagerduty import PagerDutyWebhook
from receiver.api.slack import SlackInteractions
from receiver.api.twilio import TwilioVoice
from receiver.clock import Clock, SystemClock
from receiver.console import Console
from receiver.edge import edge_middleware, quiet_parser_errors
from receiver.errors import StoreError, StoreUnavailable
from receiver.escalation.sender import Sender
from receiver.escalation.templates import Templates
from receiver.escalation.timers import plan_deadman, plan_digests
from receiver.incidents.bulkheads import bulkheads
from receiver.incidents.dispatcher import Dispatcher
from receiver.incidents.processor import Processor, ProcessorFactory
from receiver.ingest.handler import WebhookHandler
from receiver.logs import configure_logging
from receiver.maintenance.mute import Mute
from receiver.maintenance.silences import Silences
from receiver.metrics import Metrics
from receiver.notify import build_notifiers, close_notifiers
from receiver.playbooks.gates import BrokerReads
from receiver.playbooks.runner import PlaybookRunner, RunnerConfig
from receiver.redaction import Redactor
from receiver.rules import RuleSet, RuleSetError, load_rule_files
from receiver.rules.calendar import calendar_market_open
from receiver.rules.calendar import from_config as calendar_from_config
from receiver.settings import Settings
from receiver.store import Store, open_store, redact_url

log = structlog.get_logger("runbookd")
#: Seconds between two plannings of the digests and the dead man's switch (by the injected clock).
MAINTENANCE_EVERY = 5.0
#: Seconds a precondition may spend reading the broker before its on_error applies.
PRECONDITION_TIMEOUT = 10.0


class RulesHolder:
    """The rule set in force; ``reload()`` swaps in a new one atomically or keeps the old one."""

    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock) -> None:
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.calendar = calendar_from_config(settings.calendar, warm_at=clock.now())
        self.current: RuleSet = self._load()
        #: Called with the new rule set after each successful reload.
        self.listeners: list[Callable[[RuleSet], None]] = []
        #: The last reload: ``at`` (epoch seconds), ``status`` and ``error`` (``{}`` before the first).
        self.last_reload: dict[str, Any] = {}
        metrics.config_reload_success.set(1)
        metrics.config_reload_time.set(clock.now())

    def _load(self) -> RuleSet:
        s = self.settings
        return load_rule_files(s.rule_files, s.base_dir, default_severity=s.default_severity,
                               routing_keys=list(s.pagerduty.routing_keys), calendar=self.calendar)

    def get(self) -> RuleSet:
        """The rule set in force."""
        return self.current

    def reload(self) -> RuleSet:
        """Load and validate the rule files; on success swap them in, else raise ``RuleSetError``.

        Work already enqueued keeps the playbook it started with (steps are copied into its rows).
        """
        try:
            new = self._load()
        except RuleSetError as e:
            self.metrics.config_reload_success.set(0)
            self.last_reload = {"at": self.clock.now(), "status": "error", "error": str(e)}
            raise
        self.last_reload = {"at": self.clock.now(), "status": "success", "error": ""}
        self.current = new
        for listener in self.listeners:
            listener(new)
        self.metrics.config_reload_success.set(1)
        self.metrics.config_reload_time.set(self.clock.now())
        log.info("rules reloaded", version=new.version, rules=len(new.rules))
        return new


@dataclass
class Components:
    """Everything ``build_app`` wires together; exposed for tests and the CLI."""

    settings: Settings
    clock: Clock
    metrics: Metrics
    store: Store
    rules: RulesHolder
    templates: Templates
    dispatcher: Dispatcher | None = None
    #: Whether the store applies alerts inside ingest's commit (SQLite) instead of leaving them pending.
    inline_ingest: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


COMPONENTS = web.AppKey("components", Components)


def build_components(settings: Settings, *, clock: Clock | None = None, store: Store | None = None) -> Components:
    """Create the parts that need no event loop (store unopened). Raises ``RuleSetError``/``ConfigError``."""
    clock = clock or SystemClock()
    metrics = Metrics()
    rules = RulesHolder(settings, metrics, clock)
    store = store or open_store(settings.storage, base_dir=settings.base_dir, redact=Redactor(settings.secret_values()))
    store.heartbeat_alertname = settings.heartbeat.alertname  # recorded in ingest's own commit
    return Components(settings, clock, metrics, store, rules, Templates(templates_dir(settings)))


def templates_dir(settings: Settings) -> str | None:
    """The operator's template folder (``templates_dir``, relative to the config file), or ``None``."""
    if not settings.templates_dir:
        return None
    return str(Path(settings.base_dir) / settings.templates_dir)


def build_dispatcher(c: Components, http: httpx.AsyncClient) -> Dispatcher:
    """Wire actions, notifiers, runner, sender and dispatcher around an HTTP client."""
    s = c.settings
    actions = build_actions(http_client=http, alpaca=s.alpaca, command=s.command, http_hosts=s.http_allowed_hosts())
    notifiers = build_notifiers(s, c.templates)
    c.extra["notifiers"] = notifiers  # closed by the app's lifecycle on shutdown (close_notifiers)
    sender = Sender(c.store, notifiers, c.rules.get, c.metrics, c.clock, dry_run=s.dry_run,
                    external_url=s.external_url, heartbeat=s.heartbeat, templates=c.templates,
                    retry=s.notify.retry, mute=Mute(c.store, c.rules.get, c.clock, c.metrics))
    am = AlertmanagerApi(s.alertmanager.urls, http, s.alertmanager.timeout) if s.alertmanager.urls else None
    c.extra["alertmanager"] = am
    silences = Silences(c.store, am, c.clock, s.notify.retry, external_url=s.external_url,
                        duration=s.alertmanager.silence_duration)
    reads = BrokerReads(in_interval=lambda name, at: c.rules.get().in_interval(name, at))
    if s.alpaca.enabled:
        t = PRECONDITION_TIMEOUT
        reads.market_open = partial(alpaca_reads.market_open, s.alpaca, t)
        reads.market_source = "Alpaca clock"
        reads.position_qty = lambda symbol: alpaca_reads.position_qty(s.alpaca, symbol, t)
        reads.open_orders = partial(alpaca_reads.open_order_count, s.alpaca, t)
    if c.rules.calendar is not None:  # the exchange calendar wins over Alpaca's clock (docs/rules.md)
        reads.market_open = partial(calendar_market_open, c.rules.calendar, c.clock)
        reads.market_source = f"{c.rules.calendar.exchange} calendar"
    runner = PlaybookRunner(
        c.store, actions,
        RunnerConfig(dry_run=s.dry_run, vars=s.vars, secrets=s.secrets, secret_values=s.secret_values(),
                     external_url=s.external_url, budget=s.automation.destructive_budget, reads=reads,
                     templates=c.templates),
        c.metrics, c.clock, on_playbook_done=sender.enqueue_refresh, rules=c.rules.get)
    last_maintenance = [float("-inf")]

    async def maintenance() -> None:
        now = c.clock.now()
        if now - last_maintenance[0] < MAINTENANCE_EVERY:
            return
        last_maintenance[0] = now
        policies = c.rules.get().escalation_policies

        def plan(tx: Any) -> None:
            plan_digests(tx, policies, now)
            if s.heartbeat.alertname:
                plan_deadman(tx, now, s.heartbeat.timeout)

        await c.store.transaction(plan)

    return Dispatcher(
        c.store,
        lambda: Processor(c.rules.get(), reopen_window=s.reopen_window, heartbeat_alertname=s.heartbeat.alertname,
                          truncated_timeout=s.truncated_resolve_timeout),
        runner, sender, c.metrics, c.clock, lease=s.lease, poll_interval=s.poll_interval, maintenance=maintenance,
        bulkheads=lambda: bulkheads(c.rules.get().receivers, s.notify.concurrency), silences=silences)


def build_app(c: Components, *, run_dispatcher: bool = True) -> web.Application:
    """Return the aiohttp app serving every HTTP surface of DESIGN.md."""
    s = c.settings
    directory = build_directory(c)
    auth = ApiAuth(c.store, s.admin.token, directory, c.clock, reload_open=s.reload.allow_unauthenticated)
    admin = AdminApi(c.store, clock=c.clock, rules=c.rules.get, wake=lambda: _wake(c),
                     templates=c.templates, external_url=s.external_url)
    maintenance = MaintenanceApi(c.store, c.clock, lambda: _wake(c), lambda: c.extra.get("alertmanager"))
    slack = SlackInteractions(c.store, s.slack.signing_secret, c.clock, c.rules.get, lambda: _wake(c), directory)
    pagerduty = PagerDutyWebhook(c.store, s.pagerduty.webhook_secret, c.clock, c.rules.get, lambda: _wake(c),
                                 directory)
    voice = TwilioVoice(c.store, s.twilio.auth_token, s.external_url, c.clock, c.rules.get, lambda: _wake(c),
                        c.metrics, directory, from_number=s.twilio.from_number)
    # auto_decompress off: the edge refuses compressed bodies before anything decodes them (issue 11).
    quiet_parser_errors()
    app = web.Application(middlewares=[edge_middleware(s.webhook.read_timeout), admin.auth, auth.middleware],
                          client_max_size=s.webhook.max_body_bytes + 1024, handler_args={"auto_decompress": False})
    app[COMPONENTS] = c
    webhook = WebhookHandler(s.webhook, c.store, c.metrics, c.clock,
                             on_committed=lambda: None if c.inline_ingest else _wake(c))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await c.store.open()
        async with httpx.AsyncClient() as http:
            c.dispatcher = build_dispatcher(c, http)
            register_ingest(c)
            task = asyncio.get_running_loop().create_task(c.dispatcher.run_forever()) if run_dispatcher else None
            on_work = getattr(c.store, "on_work", None)
            if run_dispatcher and on_work is not None:  # PostgreSQL: LISTEN for work other replicas commit
                on_work(c.dispatcher.wake)
            log.info("runbookd started", listen=s.listen, storage=redact_url(s.storage),
                     rules_version=c.rules.get().version, dry_run=s.dry_run)
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await close_notifiers(c.extra.pop("notifiers", {}))
        await c.store.close()

    app.cleanup_ctx.append(lifecycle)

    async def metrics(_: web.Request) -> web.Response:
        with contextlib.suppress(StoreError):  # the gauge keeps its last value while the store is down
            await pending_age(c)
        return web.Response(body=generate_latest(c.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text="runbookd is Healthy.\n")

    async def ready(_: web.Request) -> web.Response:
        if not await c.store.ping():
            return web.Response(status=503, text="store unavailable\n")
        try:
            age = await pending_age(c)
        except StoreError:
            return web.Response(status=503, text="store unavailable\n")
        if age > s.ready_max_pending_age:
            return web.Response(status=503, text=f"processing stalled: the oldest pending alert waits for {age:.0f}s "
                                f"(ready_max_pending_age {s.ready_max_pending_age:.0f}s)\n")
        return web.Response(text="runbookd is Ready.\n")

    async def reload(request: web.Request) -> web.Response:
        actor = await auth.reload_actor(request)
        if isinstance(actor, web.Response):
            return actor
        answer = reload_rules(c)
        await record_reload(c, actor.name, request.remote or "", answer)
        return web.json_response(answer, status=200 if answer["status"] == "success" else 500)

    app.router.add_routes([
        web.post("/webhook/alertmanager", webhook.handle),
        web.post("/slack/interactions", slack.handle),
        web.post("/slack/commands", slack.command),
        web.post("/webhook/pagerduty", pagerduty.handle),
        web.post("/twilio/voice", voice.handle),
        web.get("/metrics", metrics),
        web.get("/-/healthy", healthy),
        web.get("/-/ready", ready),
        web.post("/-/reload", reload),
        web.put("/-/reload", reload),
        *admin.routes(),
        *maintenance.routes(),
        *OnCallApi(c.store, c.clock, c.rules.get).routes(),
        *Console(c.store, auth, directory, c.clock, s, rules=c.rules.get, templates=c.templates,
                 wake=lambda: _wake(c), last_reload=lambda: c.rules.last_reload).routes(),
    ])
    return app


def build_directory(c: Components) -> Directory:
    """The people of ``access:``, with Slack user-group lookups when the Slack bot token is set."""
    s = c.settings
    members = slack_group_members(s.slack.token, s.slack.api_url) if s.slack.token and s.access else None
    return Directory(s.access, members, c.clock.now)


def reload_rules(c: Components) -> dict[str, Any]:
    """Reload the rule files: ``{"status": "success", "version"}`` or ``{"status": "error", "error"}``."""
    try:
        new = c.rules.reload()
    except RuleSetError as e:
        return {"status": "error", "error": str(e)}
    return {"status": "success", "version": new.version}


async def record_reload(c: Components, actor: str, remote: str, answer: dict[str, Any]) -> None:
    """Put a reload (``config.reloaded`` or ``config.reload_failed``) in the audit log; a store
    failure is logged, since the reload itself already happened."""
    now = c.clock.now()
    action = "config.reloaded" if answer["status"] == "success" else "config.reload_failed"
    try:
        await c.store.transaction(lambda tx: tx.audit(now, action, "rules", {**answer, "remote": remote}, actor=actor))
    except StoreUnavailable:
        log.exception("cannot record the reload in the audit log")


def register_ingest(c: Components) -> None:
    """Have the store apply alerts to incidents inside ingest's commit, where the backend can.

    With ``webhook.ingest_process`` the SQLite store does it in a child process, which gets the rule
    set in force now and again after every reload.
    """
    assert c.dispatcher is not None
    s, dispatcher = c.settings, c.dispatcher

    def register(rules: RuleSet) -> None:
        factory = (ProcessorFactory(rules, s.reopen_window, s.heartbeat.alertname, s.truncated_resolve_timeout)
                   if s.webhook.ingest_process else None)
        c.inline_ingest = c.store.process_on_ingest(
            dispatcher.apply_at_ingest, dispatcher.after_ingest, factory=factory,
            init=partial(configure_logging, s.log_level, s.log_format, s.secret_values()))

    register(c.rules.get())
    c.rules.listeners.append(register)


async def pending_age(c: Components) -> float:
    """Seconds the oldest alert state has waited for the processor (0 when none waits), by ``c.clock``;
    also sets ``runbookd_alerts_oldest_pending_age_seconds``. Raises ``StoreError``."""
    oldest = await c.store.read(lambda tx: tx.oldest_pending_at())
    age = 0.0 if oldest is None else max(0.0, c.clock.now() - oldest)
    c.metrics.oldest_pending_age.set(age)
    return age


def _wake(c: Components) -> None:
    if c.dispatcher is not None:
        c.dispatcher.wake()


__all__ = ["build_app", "build_components", "build_dispatcher", "Components", "COMPONENTS", "RulesHolder",
           "StoreUnavailable"]
