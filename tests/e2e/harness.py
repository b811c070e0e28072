"""Real processes on loopback for end-to-end tests: the fakes, runbookd, Alertmanager and Prometheus.

Each service runs as a subprocess in its own directory under the test's ``tmp_path``, on a free
loopback port, with its output in ``<dir>/<name>.log``. ``start()`` returns once the service answers
its readiness check (and raises ``ProcessExited`` with the log if it dies first); ``close()`` stops it
(SIGTERM, then SIGKILL) and is safe to call twice. Nothing sleeps a fixed time: ``wait_until`` polls.

Configuration is always a copy of the shipped files (``runbookd.yml``, ``rules/``,
``alertmanager/alertmanager.yml``, ``prometheus/*.yml``) with only ports, paths and timings changed, so
the end-to-end tests test what is shipped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.slack import channel_id

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

#: Values the harness gives runbookd (the shipped runbookd.yml reads them; see ``Runbookd.env``).
ADMIN_TOKEN = "admintoken"
SLACK_TOKEN = "xoxb-test"
ALPACA_KEY = "test"
ALPACA_SECRET = "test"
PAGERDUTY_ROUTING_KEY = "0123456789abcdef0123456789abcdef"
TRADING_TOKEN = "tradingtoken"

#: Every variable the shipped runbookd.yml reads: removed from the inherited environment first, so a
#: developer's real SLACK_BOT_TOKEN or ALPACA_API_KEY can never reach a test run.
CONFIG_VARS = (
    "RUNBOOKD_LISTEN",
    "RUNBOOKD_STORAGE",
    "RUNBOOKD_WEBHOOK_TOKEN",
    "RUNBOOKD_ADMIN_TOKEN",
    "RUNBOOKD_DRY_RUN",
    "SLACK_BOT_TOKEN",
    "SLACK_API_URL",
    "SLACK_SIGNING_SECRET",
    "PAGERDUTY_ROUTING_KEY",
    "PAGERDUTY_SECONDARY_ROUTING_KEY",
    "PAGERDUTY_EVENTS_URL",
    "ALPACA_API_KEY",
    "ALPACA_SECRET_KEY",
    "ALPACA_BASE_URL",
    "SMTP_HOST",
    "SMTP_PORT",
    "TRADING_API_URL",
    "TRADING_ADMIN_TOKEN",
    "ALERTMANAGER_URLS",
)


class ProcessExited(RuntimeError):
    """Raised when a service's process ends while a test waits for it; carries the log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 15.0,
    interval: float = 0.05,
    message: str | None = None,
    ignore: tuple[type[BaseException], ...] = (httpx.TransportError,),
) -> T:
    """Poll ``predicate`` every ``interval`` seconds until it returns a truthy value, and return it.

    Exceptions of the ``ignore`` types (default: connection errors) count as "not yet"; any other
    exception propagates at once (e.g. ``ProcessExited``). Raises ``AssertionError`` naming
    ``message``, the last value and the last ignored error after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    error: BaseException | None = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except ignore as e:
            error = e
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last value {last!r}, last error {error!r}"
            )
        time.sleep(interval)


def rfc3339(when: datetime) -> str:
    """``when`` (UTC) as Alertmanager's API writes times: ``2024-01-02T03:04:05.123456Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_alert(
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    generator_url: str = "http://127.0.0.1:9090/graph",
) -> dict[str, Any]:
    """One alert for Alertmanager's ``POST /api/v2/alerts``; an ``ends_at`` in the past resolves it."""
    alert: dict[str, Any] = {
        "labels": dict(labels),
        "annotations": dict(annotations or {}),
        "startsAt": rfc3339(starts_at or datetime.now(UTC)),
        "generatorURL": generator_url,
    }
    if ends_at is not None:
        alert["endsAt"] = rfc3339(ends_at)
    return alert


def resolved(alert: dict[str, Any], ago: float = 1.0) -> dict[str, Any]:
    """The same alert (same labels and ``startsAt``) ended ``ago`` seconds in the past."""
    return {**alert, "endsAt": rfc3339(datetime.now(UTC) - timedelta(seconds=ago))}


def find_binary(*names: str) -> str | None:
    """The first of ``names`` found on PATH (or as an absolute path), or None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` (e.g. ``x_total``) whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


class Service:
    """A subprocess with a log file, a readiness check and a clean stop. Subclasses set ``argv``."""

    name = "service"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{self.name}.log"
        self.http = httpx.Client(timeout=5.0)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # -- subclass hooks --------------------------------------------------------------------------

    def argv(self) -> list[str]:
        """The command line."""
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        """The environment (None: inherit)."""
        return None

    def cwd(self) -> Path:
        """The working directory."""
        return self.workdir

    def is_ready(self) -> bool:
        """Whether the service answers; connection errors count as not ready."""
        return self.http.get(f"{self.url}/-/ready").status_code == 200

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until it is ready; raises ``ProcessExited`` if it dies first."""
        assert not self.running, f"{self.name} is already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"==== start #{self.starts}: {' '.join(self.argv())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv(),
                cwd=self.cwd(),
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._ready_or_raise, timeout=timeout, message=f"{self.name} to be ready at {self.url}")

    def _ready_or_raise(self) -> bool:
        self.check_alive()
        return self.is_ready()

    def check_alive(self) -> None:
        """Raise ``ProcessExited`` (with the log tail) unless the process runs."""
        if not self.running:
            code = None if self.proc is None else self.proc.returncode
            raise ProcessExited(f"{self.name} is not running (exit code {code}); log:\n{self.logs(80)}")

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing gets to clean up."""
        self._signal(signal.SIGKILL, timeout=10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait; SIGKILL after ``timeout`` seconds."""
        self._signal(signal.SIGTERM, timeout=timeout)

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        """Stop the process and release the HTTP client (idempotent)."""
        try:
            self.stop()
        finally:
            self.http.close()

    def logs(self, tail: int | None = None) -> str:
        """The process output so far, every start included (the last ``tail`` lines when given)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-tail:]) if tail else text


class Fakes(Service):
    """The four vendor fakes in one process (``python -m tests.fakes.run``).

    ``urls`` maps ``slack``, ``pagerduty``, ``alpaca``, ``trading`` to base URLs (no trailing slash);
    tokens match what ``Runbookd`` gives runbookd.
    """

    name = "fakes"
    NAMES = ("slack", "pagerduty", "alpaca", "trading")

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)  # its own port is unused: each fake picks one and writes the port file
        self.port_file = workdir / "fakes.json"
        self.urls: dict[str, str] = {}

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "tests.fakes.run", "--port-file", str(self.port_file),
            "--slack-token", SLACK_TOKEN, "--alpaca-key", ALPACA_KEY, "--alpaca-secret", ALPACA_SECRET,
            "--trading-token", TRADING_TOKEN,
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": _pythonpath(), "PYTHONUNBUFFERED": "1"}

    def cwd(self) -> Path:
        return ROOT

    def start(self, timeout: float = 30.0) -> None:
        """Start the fakes and read their URLs from the port file."""
        self.port_file.unlink(missing_ok=True)
        super().start(timeout)
        self.urls = json.loads(self.port_file.read_text(encoding="utf-8"))

    def is_ready(self) -> bool:
        if not self.port_file.exists():
            return False
        urls = json.loads(self.port_file.read_text(encoding="utf-8"))
        return all(self.http.get(f"{urls[n]}/_requests").status_code == 200 for n in self.NAMES)

    def requests(self, name: str, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """Requests fake ``name`` recorded (``method``, ``path`` as given; ``json``, ``headers``, …)."""
        resp = self.http.get(f"{self.urls[name]}/_requests")
        resp.raise_for_status()
        return [
            r
            for r in resp.json()
            if (method is None or r["method"] == method.upper()) and (path is None or r["path"] == path)
        ]

    def reset(self, names: Iterable[str] = NAMES) -> None:
        """Forget recorded requests, injected failures and delays of the given fakes (default all)."""
        for n in names:
            self.http.post(f"{self.urls[n]}/_reset").raise_for_status()

    def delay(self, name: str, path: str | None, seconds: float) -> None:
        """Make fake ``name`` answer requests to ``path`` (None: every path) after ``seconds``.

        The fake records the request before it waits, so ``requests()`` shows it while it hangs.
        """
        resp = self.http.post(f"{self.urls[name]}/_delay", json={"seconds": seconds, "path": path})
        resp.raise_for_status()

    def fail(self, name: str, count: int = 1, status: int = 503, path: str | None = None) -> None:
        """Make fake ``name`` answer the next ``count`` requests (to ``path``) with ``status``."""
        spec = {"count": count, "status": status, "path": path}
        self.http.post(f"{self.urls[name]}/_fail", json=spec).raise_for_status()

    # -- what the vendors received, decoded ------------------------------------------------------

    def slack_posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """``chat.postMessage`` parameters (JSON or form) to ``channel`` (a ``#name``) when given."""
        out = [_params(r) for r in self.requests("slack", "POST", "/api/chat.postMessage")]
        if channel is not None:
            out = [p for p in out if _same_channel(str(p.get("channel", "")), channel)]
        return out

    def slack_pages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level ``chat.postMessage`` calls (no ``thread_ts``) to ``channel``."""
        return [p for p in self.slack_posts(channel) if not p.get("thread_ts")]

    def slack_updates(self) -> list[dict[str, Any]]:
        """``chat.update`` parameters."""
        return [_params(r) for r in self.requests("slack", "POST", "/api/chat.update")]

    def pagerduty_events(self, action: str | None = None) -> list[dict[str, Any]]:
        """Events API v2 events (``event_action``, ``dedup_key``, ``routing_key``, ``payload``)."""
        events = [r["json"] for r in self.requests("pagerduty", "POST", "/v2/enqueue")]
        return [e for e in events if isinstance(e, dict) and (action is None or e.get("event_action") == action)]


class Runbookd(Service):
    """``python -m receiver serve`` with a copy of the shipped runbookd.yml, pointed at the fakes.

    The copy differs from the shipped file only in ``rule_files`` (the repository's ``rules/*.yml`` by
    absolute glob) and the keys in ``overrides``. Every other value comes from the environment the
    shipped file reads (see ``env``); the port and the database survive ``kill()`` and ``start()``.
    """

    name = "runbookd"

    def __init__(
        self,
        workdir: Path,
        fakes: Fakes,
        *,
        overrides: dict[str, Any] | None = None,
        webhook_token: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.fakes = fakes
        self.webhook_token = webhook_token
        self.extra_env = dict(extra_env or {})
        self.db_path = workdir / "rb.db"
        self.config_path = workdir / "runbookd.yml"
        config = yaml.safe_load((ROOT / "runbookd.yml").read_text(encoding="utf-8"))
        config["rule_files"] = [str(ROOT / "rules" / "*.yml")]
        config.update(overrides or {})
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.webhook_url = f"{self.url}/webhook/alertmanager"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "receiver", "serve", "--config", str(self.config_path)]

    def env(self) -> dict[str, str]:
        """The inherited environment without any variable runbookd.yml reads, plus the test values."""
        base = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
        urls = self.fakes.urls
        values = {
            "RUNBOOKD_LISTEN": f"127.0.0.1:{self.port}",
            "RUNBOOKD_STORAGE": f"sqlite:///{self.db_path}",
            "RUNBOOKD_DRY_RUN": "false",
            "RUNBOOKD_ADMIN_TOKEN": ADMIN_TOKEN,
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": f"{urls['slack']}/api/",
            "PAGERDUTY_ROUTING_KEY": PAGERDUTY_ROUTING_KEY,
            "PAGERDUTY_EVENTS_URL": urls["pagerduty"],
            "ALPACA_API_KEY": ALPACA_KEY,
            "ALPACA_SECRET_KEY": ALPACA_SECRET,
            "ALPACA_BASE_URL": urls["alpaca"],
            "TRADING_API_URL": urls["trading"],
            "TRADING_ADMIN_TOKEN": TRADING_TOKEN,
            "PYTHONPATH": _pythonpath(),
            "PYTHONUNBUFFERED": "1",
        }
        if self.webhook_token:
            values["RUNBOOKD_WEBHOOK_TOKEN"] = self.webhook_token
        return {**base, **values, **self.extra_env}

    # -- admin API and metrics -------------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request to the admin API with ``Authorization: Bearer <ADMIN_TOKEN>``."""
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.url}{path}", headers=headers, **kwargs)

    def incidents(self, **params: str) -> list[dict[str, Any]]:
        """``GET /api/v1/incidents`` (``status=``, ``alertname=`` filters), newest first."""
        resp = self.admin("GET", "/api/v1/incidents", params=params)
        resp.raise_for_status()
        return list(resp.json())

    def incident(self, incident_id: str) -> dict[str, Any]:
        """``GET /api/v1/incidents/{id}`` with its ``timeline``."""
        resp = self.admin("GET", f"/api/v1/incidents/{incident_id}")
        resp.raise_for_status()
        return dict(resp.json())

    def metric(self, name: str, **labels: str) -> float:
        """Sum of ``name`` samples on ``GET /metrics`` whose labels include ``labels``."""
        resp = self.http.get(f"{self.url}/metrics")
        resp.raise_for_status()
        return metric_value(resp.text, name, **labels)


class Alertmanager(Service):
    """The real Alertmanager with a copy of the shipped alertmanager.yml, posting to ``webhook_url``.

    Only the webhook URL, the timings, ``max_alerts`` and (with ``webhook_token``) a bearer credentials
    file differ from the shipped file. Clustering is off (``--cluster.listen-address=``).
    """

    name = "alertmanager"

    def __init__(
        self,
        workdir: Path,
        webhook_url: str,
        *,
        group_wait: str = "1s",
        group_interval: str = "2s",
        repeat_interval: str = "1h",
        webhook_token: str | None = None,
        max_alerts: int = 0,
    ) -> None:
        super().__init__(workdir)
        binary = find_binary("prometheus-alertmanager", "alertmanager")
        assert binary is not None, "Alertmanager is not installed (apt-get install prometheus-alertmanager)"
        self.binary = binary
        self.config_path = workdir / "alertmanager.yml"
        config = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
        config["route"].update(group_wait=group_wait, group_interval=group_interval, repeat_interval=repeat_interval)
        (hook,) = [h for r in config["receivers"] if r["name"] == "runbookd" for h in r["webhook_configs"]]
        hook["url"] = webhook_url
        hook["max_alerts"] = max_alerts
        if webhook_token:
            token_file = workdir / "runbookd-token"
            token_file.write_text(webhook_token, encoding="utf-8")
            token_file.chmod(0o600)
            hook["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}}
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def argv(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """``POST /api/v2/alerts`` (see ``make_alert``); raises on a non-2xx answer."""
        self.http.post(f"{self.url}/api/v2/alerts", json=alerts).raise_for_status()

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds."""
        resp = self.http.get(f"{self.url}/api/v2/alerts")
        resp.raise_for_status()
        return list(resp.json())

    def webhook_deliveries(self) -> float:
        """Webhook notifications Alertmanager delivered (attempted minus failed, from its /metrics)."""
        text = self.http.get(f"{self.url}/metrics").text
        attempted = metric_value(text, "alertmanager_notifications_total", integration="webhook")
        failed = metric_value(text, "alertmanager_notifications_failed_total", integration="webhook")
        return attempted - failed


class Prometheus(Service):
    """The real Prometheus with copies of the shipped prometheus.yml and alerts.yml.

    Scrapes and evaluates every second, sends alerts to ``alertmanager`` (``host:port``), scrapes only
    job ``trading-engine`` at ``target`` (default: a port nothing listens on, so ``up`` is 0), and
    every alerting rule has ``for: 0s`` so it fires on the first evaluation that holds.
    """

    name = "prometheus"

    def __init__(self, workdir: Path, alertmanager: str, *, target: str | None = None) -> None:
        super().__init__(workdir)
        binary = find_binary("prometheus")
        assert binary is not None, "Prometheus is not installed (apt-get install prometheus)"
        self.binary = binary
        self.target = target or f"127.0.0.1:{free_port()}"
        rules = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = "0s"
        self.rules_path = workdir / "alerts.yml"
        self.rules_path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
        config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [str(self.rules_path)]
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
        config["scrape_configs"] = [{"job_name": "trading-engine", "static_configs": [{"targets": [self.target]}]}]
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def argv(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v1/alerts``: pending and firing alerts."""
        resp = self.http.get(f"{self.url}/api/v1/alerts")
        resp.raise_for_status()
        return list(resp.json()["data"]["alerts"])


def _pythonpath() -> str:
    """The repository first (``receiver`` and ``tests`` importable), then any inherited PYTHONPATH."""
    inherited = os.environ.get("PYTHONPATH")
    return os.pathsep.join([str(ROOT), inherited] if inherited else [str(ROOT)])


def _params(record: dict[str, Any]) -> dict[str, Any]:
    """A recorded Slack call's parameters, JSON or form-encoded, with ``blocks`` decoded."""
    body = record.get("json")
    out: dict[str, Any] = dict(body) if isinstance(body, dict) else dict(record.get("form") or {})
    if isinstance(out.get("blocks"), str):
        try:
            out["blocks"] = json.loads(out["blocks"])
        except ValueError:
            pass
    return out


def _same_channel(got: str, channel: str) -> bool:
    """Whether ``got`` (a name or the fake's id) is ``channel`` (a ``#name``)."""
    return got.lstrip("#") == channel.lstrip("#") or channel_id(got) == channel_id(channel)
