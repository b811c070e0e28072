"""Deployment configuration (``runbookd.yml``): pydantic models, ``${VAR}`` expansion and loading.

Secrets come only from the environment (``${VAR}`` / ``${VAR:-default}`` in string values) or files,
never from YAML in git. An integration whose credentials are empty is off: its actions and
notifications are recorded as skipped. See DESIGN.md, "Configuration".
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from receiver.access.people import AccessConfig
from receiver.config.command import CommandConfig
from receiver.config.http_actions import ActionsConfig
from receiver.durations import parse_duration
from receiver.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def expand_env(value: str, env: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in ``value`` from ``env`` (default ``os.environ``).

    ``${VAR}`` of an unset variable becomes ``""``; ``${VAR:-x}`` gives ``x`` when VAR is unset or
    empty, as in POSIX shells. The result is not expanded again.
    """
    environ = os.environ if env is None else env

    def sub(m: re.Match[str]) -> str:
        got = environ.get(m.group(1), "")
        if got == "" and m.group(2) is not None:
            return m.group(2)
        return got

    return _VAR.sub(sub, value)


def _expand_tree(node: Any, env: dict[str, str] | None) -> Any:
    if isinstance(node, str):
        return expand_env(node, env)
    if isinstance(node, list):
        return [_expand_tree(v, env) for v in node]
    if isinstance(node, dict):
        return {k: _expand_tree(v, env) for k, v in node.items()}
    return node


def _empty_to_none(v: Any) -> Any:
    return None if isinstance(v, str) and v.strip() == "" else v


Secret = Annotated[str | None, BeforeValidator(_empty_to_none)]
Seconds = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BasicAuth(_Strict):
    """HTTP basic credentials (Alertmanager ``http_config.basic_auth``)."""

    username: str
    password: Secret = None


class WebhookAuth(_Strict):
    """Webhook authentication: a bearer token or basic auth; both unset means open."""

    bearer_token: Secret = None
    basic: BasicAuth | None = None


class WebhookConfig(_Strict):
    """``webhook:`` — authentication and the body size limit of ``POST /webhook/alertmanager``.

    ``ingest_process`` (SQLite only): commit webhook alerts and apply them to incidents in a child
    process beside the event loop, so that ingest uses a second CPU (see docs/performance.md);
    ``false`` does the same work on a thread of the serving process. ``read_timeout`` (a duration,
    default 10s) bounds the time a request's body may take to arrive, on every endpoint: past it the
    answer is 408 and the connection is closed.
    """

    auth: WebhookAuth = WebhookAuth()
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    read_timeout: Seconds = Field(default=10.0, gt=0)
    ingest_process: bool = True


class AdminConfig(_Strict):
    """``admin:`` — the bearer token of the admin API; unset means the admin API answers 401."""

    token: Secret = None


class SlackConfig(_Strict):
    """``slack:`` — bot token, Web API base URL (``https://slack.com/api/``) and signing secret."""

    token: Secret = None
    api_url: str = "https://slack.com/api/"
    signing_secret: Secret = None

    @field_validator("api_url")
    @classmethod
    def _slash(cls, v: str) -> str:
        v = v.strip() or "https://slack.com/api/"
        return v if v.endswith("/") else v + "/"

    @property
    def enabled(self) -> bool:
        """Whether a bot token is set."""
        return bool(self.token)


class PagerDutyConfig(_Strict):
    """``pagerduty:`` — Events API v2 base URL, routing keys by name (receivers refer to the name) and
    the signing secret of the v3 webhook subscription (``POST /webhook/pagerduty``)."""

    events_url: str = "https://events.pagerduty.com"
    routing_keys: dict[str, Secret] = Field(default_factory=dict)
    webhook_secret: Secret = None

    @field_validator("events_url")
    @classmethod
    def _strip(cls, v: str) -> str:
        return (v.strip() or "https://events.pagerduty.com").rstrip("/")


class TwilioConfig(_Strict):
    """``twilio:`` — the account (``account_sid``, ``auth_token``), the number SMS and calls come from
    (``from_number``, E.164) and the REST API's base URL (``api_url``, ``https://api.twilio.com``; the
    tests' fake). Any of the three unset turns ``sms`` and ``voice`` receivers off (recorded as skipped),
    and ``POST /twilio/voice`` answers 403 without ``auth_token`` (it verifies ``X-Twilio-Signature``)."""

    account_sid: Secret = None
    auth_token: Secret = None
    from_number: Annotated[Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")] | None,
                           BeforeValidator(_empty_to_none)] = None
    api_url: str = "https://api.twilio.com"

    @field_validator("api_url")
    @classmethod
    def _base(cls, v: str) -> str:
        v = (v.strip() or "https://api.twilio.com").rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
        return v

    @property
    def enabled(self) -> bool:
        """Whether the account, its auth token and the sending number are all set."""
        return bool(self.account_sid and self.auth_token and self.from_number)


class AlpacaConfig(_Strict):
    """``alpaca:`` — API key pair, ``paper`` account switch and ``url_override`` (no ``/v2``)."""

    api_key: Secret = None
    secret_key: Secret = None
    paper: bool = True
    url_override: Secret = None

    @property
    def enabled(self) -> bool:
        """Whether both keys are set."""
        return bool(self.api_key and self.secret_key)


class SmtpConfig(_Strict):
    """``smtp:`` — mail server for email receivers; no host means email is off."""

    host: Secret = None
    port: int = 25
    username: Secret = None
    password: Secret = None
    starttls: bool = False
    tls: bool = False
    sender: str = "runbookd@localhost"


class HeartbeatConfig(_Strict):
    """``heartbeat:`` — the dead man's switch on Alertmanager's always-firing alert.

    Alerts named ``alertname`` are recorded as heartbeats (they open no incident). When none has
    arrived for ``timeout`` seconds after the first one, runbookd triggers PagerDuty directly with
    the routing key named ``routing_key``, and resolves that page when heartbeats come back.
    ``alertname`` empty turns the switch off.
    """

    alertname: str = "Watchdog"
    timeout: Seconds = 600.0
    routing_key: str = "default"


class VendorTimeouts(_Strict):
    """Connect and read time-outs of one vendor's calls, in seconds (``read`` also bounds the whole call)."""

    connect: Seconds = Field(default=3.0, gt=0)
    read: Seconds = Field(default=10.0, gt=0)


def _default_deadlines() -> dict[str, float]:
    return {"P0": 600.0, "P1": 1800.0, "P2": 3600.0, "P3": 14400.0}


class RetryPolicy(_Strict):
    """``notify.retry:`` — how a failed notification is retried (a durable row with a due time).

    Delays grow from ``initial`` doubling per attempt up to ``max``, plus up to ``jitter`` seconds of
    random jitter, counted from the end of the failed attempt; a ``Retry-After`` (429/503) is never
    undercut. A page is retried until it is delivered, its incident is acknowledged or resolved, or
    its severity's ``deadlines`` entry (seconds after its first attempt) passes; then the next
    escalation step is paged at once. Defaults: P0 10m, P1 30m, P2 1h, P3 4h.
    """

    initial: Seconds = Field(default=2.0, gt=0)
    max: Seconds = Field(default=60.0, gt=0)
    jitter: Seconds = Field(default=1.0, ge=0)
    deadlines: dict[str, Seconds] = Field(default_factory=_default_deadlines)

    def deadline(self, severity: str) -> float:
        """The retry deadline of a severity's pages, in seconds (P3's for a severity not listed)."""
        return float(self.deadlines.get(severity, self.deadlines.get("P3", 14400.0)))


def _default_concurrency() -> dict[str, int]:
    return {"slack": 8, "pagerduty": 6, "email": 4, "actions": 8, "other": 4}


class NotifyConfig(_Strict):
    """``notify:`` — retry policy, per-vendor time-outs and bulkheads (rows run at once per family).

    ``twilio`` bounds the Twilio REST calls of ``sms`` and ``voice`` receivers. ``concurrency`` keys are
    channel kinds (``slack``, ``pagerduty``, ``email``, ``sms``, ``voice``, any later one),
    ``actions`` (playbook steps) and ``other`` (rows that fan out to several receivers); a family
    not listed gets 4.
    """

    retry: RetryPolicy = RetryPolicy()
    slack: VendorTimeouts = VendorTimeouts()
    pagerduty: VendorTimeouts = VendorTimeouts()
    email: VendorTimeouts = VendorTimeouts()
    twilio: VendorTimeouts = VendorTimeouts()
    concurrency: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=_default_concurrency)


class Budget(_Strict):
    """At most ``max`` executions per ``per`` seconds (sliding window)."""

    max: int = Field(ge=0)
    per: Seconds = Field(gt=0)


class AutomationConfig(_Strict):
    """``automation:`` — global safety limits of playbook execution.

    ``destructive_budget``: at most this many destructive steps (cancel, close, flatten, commands,
    steps marked ``destructive: true``) across all rules per window; over it, steps are skipped and
    the incident is paged. ``None`` removes the budget.
    """

    destructive_budget: Budget | None = Budget(max=5, per=3600.0)


def _calendar(value: Any) -> Any:
    """``calendar: XNYS`` is short for ``{exchange: XNYS}``; empty (an unset ``${VAR:-}``) is no calendar."""
    if isinstance(value, str):
        return {"exchange": value.strip()} if value.strip() else None
    return value


class CalendarConfig(_Strict):
    """``calendar:`` — the exchange calendar behind ``market_hours`` and ``when: market_open``
    (receiver.rules.calendar; docs/rules.md, "Exchange calendar").

    ``exchange``: a name the ``exchange-calendars`` package knows (``XNYS``, ``XLON``, ``NYSE``…);
    ``pre_market`` / ``post_market``: seconds of extended hours before the open and after the close.
    """

    exchange: str = Field(min_length=1)
    pre_market: Seconds = 5.5 * 3600
    post_market: Seconds = 4 * 3600

    @field_validator("exchange")
    @classmethod
    def _known(cls, name: str) -> str:
        import exchange_calendars  # imported only when a calendar is configured (pandas is slow to load)

        names = exchange_calendars.get_calendar_names(include_aliases=True)
        if name not in names:
            raise ValueError(f"unknown exchange {name!r} (exchange-calendars knows e.g. XNYS, XNAS, XLON, XTKS)")
        return name


class AlertmanagerConfig(_Strict):
    """``alertmanager:`` — runbookd's own calls to Alertmanager's API v2 (silences; docs/maintenance.md).

    ``urls``: the members of the Alertmanager cluster (an HA pair is a list; empty: no silences);
    ``timeout``: seconds per request; ``silence_duration``: how long an acknowledged incident's silence
    lasts at most (it is expired when the incident resolves).
    """

    urls: list[str] = Field(default_factory=list)
    timeout: Seconds = Field(default=5.0, gt=0)
    silence_duration: Seconds = Field(default=86400.0, gt=0)

    @field_validator("urls", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if isinstance(value, str):  # ${ALERTMANAGER_URLS:-}: comma-separated, empty is none
            return [u.strip() for u in value.split(",") if u.strip()]
        return value

    @field_validator("urls")
    @classmethod
    def _http(cls, urls: list[str]) -> list[str]:
        for u in urls:
            if not u.startswith(("http://", "https://")):
                raise ValueError(f"alertmanager.urls: expected http:// or https:// URLs, got {u!r}")
        return urls


class ReloadConfig(_Strict):
    """``reload:`` — ``allow_unauthenticated`` (default true, as Prometheus and Alertmanager): ``POST
    /-/reload`` needs no token; false: it needs an admin token (docs/access.md)."""

    allow_unauthenticated: bool = True


class Settings(_Strict):
    """The whole of ``runbookd.yml``. Durations are seconds after loading."""

    listen: str = "127.0.0.1:9096"
    storage: str = "sqlite:///data/runbookd.db"
    rule_files: list[str] = Field(default_factory=lambda: ["rules/*.yml"])
    dry_run: bool = True
    default_severity: str = Field(default="P3", pattern=r"^P[0-3]$")
    reopen_window: Seconds = 600.0
    lease: Seconds = 30.0
    poll_interval: Seconds = 1.0
    #: ``/-/ready`` answers 503 while an alert state has waited longer than this for the processor.
    ready_max_pending_age: Seconds = 60.0
    #: An incident held open by a truncated body resolves, unconfirmed, once no body of its group came
    #: for this long (docs/escalation.md); keep it above the route's ``repeat_interval``.
    truncated_resolve_timeout: Seconds = 5 * 3600.0
    external_url: str = "http://127.0.0.1:9096"
    webhook: WebhookConfig = WebhookConfig()
    admin: AdminConfig = AdminConfig()
    slack: SlackConfig = SlackConfig()
    pagerduty: PagerDutyConfig = PagerDutyConfig()
    twilio: TwilioConfig = TwilioConfig()
    alpaca: AlpacaConfig = AlpacaConfig()
    smtp: SmtpConfig = SmtpConfig()
    heartbeat: HeartbeatConfig = HeartbeatConfig()
    notify: NotifyConfig = NotifyConfig()
    automation: AutomationConfig = AutomationConfig()
    command: CommandConfig = CommandConfig()
    actions: ActionsConfig = ActionsConfig()
    calendar: Annotated[CalendarConfig | None, BeforeValidator(_calendar)] = None
    access: AccessConfig | None = None
    reload: ReloadConfig = ReloadConfig()
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    templates_dir: str | None = None
    vars: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, Secret] = Field(default_factory=dict)
    log_format: str = Field(default="json", pattern=r"^(json|console)$")
    log_level: str = "info"
    # Directory the relative paths (rule_files, sqlite storage) are resolved against; set by load.
    base_dir: str = "."

    @property
    def host_port(self) -> tuple[str, int]:
        """``listen`` split into (host, port); raises ``ConfigError`` when it has no port."""
        host, sep, port = self.listen.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"listen: expected host:port, got {self.listen!r}")
        return host.strip("[]") or "0.0.0.0", int(port)

    def http_allowed_hosts(self) -> list[str]:
        """The entries of ``actions.http.allowed_hosts``; when unset, the URLs among ``vars``."""
        if self.actions.http.allowed_hosts is not None:
            return list(self.actions.http.allowed_hosts)
        return [v for v in self.vars.values() if "://" in v]

    def secret_values(self) -> list[str]:
        """Every configured secret value, so logs and timelines can redact them."""
        vals = [v for v in self.secrets.values() if v]
        vals += [v for v in self.command.env.values() if v]
        vals += [v for v in self.pagerduty.routing_keys.values() if v]
        for v in (
            self.webhook.auth.bearer_token,
            self.admin.token,
            self.slack.token,
            self.slack.signing_secret,
            self.pagerduty.webhook_secret,
            self.twilio.auth_token,
            self.alpaca.api_key,
            self.alpaca.secret_key,
            self.smtp.password,
        ):
            if v:
                vals.append(v)
        if self.webhook.auth.basic and self.webhook.auth.basic.password:
            vals.append(self.webhook.auth.basic.password)
        return [v for v in vals if len(v) >= 4]


def parse_settings(data: dict[str, Any], *, base_dir: str = ".", env: dict[str, str] | None = None) -> Settings:
    """Validate an already-parsed config mapping after ``${VAR}`` expansion.

    Raises ``ConfigError`` whose message names each bad key (``slack.api_url: …``).
    """
    if not isinstance(data, dict):
        raise ConfigError("config: expected a mapping at the top level")
    expanded = _expand_tree(data, env)
    expanded.setdefault("base_dir", base_dir)
    try:
        return Settings.model_validate(expanded)
    except ValidationError as e:
        raise ConfigError("; ".join(_describe(err) for err in e.errors())) from None


def load_settings(path: str | Path | None, env: dict[str, str] | None = None) -> Settings:
    """Load ``runbookd.yml`` from ``path`` (``None``: built-in defaults, base dir = cwd).

    Relative paths in the file are resolved against the file's directory. Raises ``ConfigError``.
    """
    if path is None:
        return parse_settings({}, base_dir=os.getcwd(), env=env)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config: {e.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {e}") from None
    try:
        return parse_settings(data, base_dir=str(p.resolve().parent), env=env)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


def _describe(err: Any) -> str:
    loc = ".".join(str(x) for x in err.get("loc", ())) or "config"
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
    return f"{loc}: {msg}"
