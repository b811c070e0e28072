"""Fixtures that start real processes for the end-to-end tests and always stop them.

- ``services``: the group every started process joins; stopped in reverse order at teardown, and a
  failing test's report gets each process's log tail.
- ``fakes``: the vendor fakes (``Fakes``).
- ``make_runbookd(**kw)`` / ``runbookd``: runbookd on the shipped config, armed (dry run off), with
  the webhook bearer token ``WEBHOOK_TOKEN`` (``Runbookd`` keyword arguments pass through).
- ``make_alertmanager(runbookd, **kw)`` / ``alertmanager``: Alertmanager posting to that runbookd
  with its token (``group_wait``, ``group_interval``, ``repeat_interval`` pass through).
- ``make_prometheus(alertmanager, **kw)``: Prometheus scraping a dead ``trading-engine`` target.

Alertmanager and Prometheus are skipped when not installed, except on CI (``CI`` set), where a
missing binary fails the test instead of hiding it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.e2e.harness import Alertmanager, Fakes, Prometheus, Runbookd, Service, find_binary

WEBHOOK_TOKEN = "webhooktoken"
S = TypeVar("S", bound=Service)


class Services:
    """Processes started for one test, each in its own directory under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Service] = []
        self._names: dict[str, int] = {}

    def dir(self, name: str) -> Path:
        """A fresh directory for a service called ``name`` (``name``, ``name2``, …)."""
        n = self._names[name] = self._names.get(name, 0) + 1
        return self.root / (name if n == 1 else f"{name}{n}")

    def start(self, service: S) -> S:
        """Start ``service`` (waiting until ready) and stop it at teardown."""
        self.started.append(service)
        service.start()
        return service

    def close(self) -> None:
        """Stop every service, the last started first; keeps going when one fails to stop."""
        errors: list[BaseException] = []
        for service in reversed(self.started):
            try:
                service.close()
            except Exception as e:  # noqa: BLE001 - stop the others, then report
                errors.append(e)
        if errors:
            raise errors[0]


def _require(*names: str, package: str) -> None:
    if find_binary(*names) is None:
        reason = f"{names[0]} is not installed (apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must install it")
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the log tail of every process a failed test started to its report."""
    report = yield
    group = getattr(item, "funcargs", {}).get("services")
    if report.failed and isinstance(group, Services):
        for service in group.started:
            report.sections.append((f"{service.name} log ({service.log_path})", service.logs(200)))
    return report


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """The processes of this test; all stopped at teardown."""
    group = Services(tmp_path)
    try:
        yield group
    finally:
        group.close()


@pytest.fixture
def fakes(services: Services) -> Fakes:
    """Fake Slack, PagerDuty, Alpaca and trading system in one process."""
    return services.start(Fakes(services.dir("fakes")))


@pytest.fixture
def make_runbookd(services: Services, fakes: Fakes) -> Callable[..., Runbookd]:
    """Start a runbookd on the fakes; keyword arguments go to ``Runbookd``."""

    def make(**kwargs: Any) -> Runbookd:
        kwargs.setdefault("webhook_token", WEBHOOK_TOKEN)
        return services.start(Runbookd(services.dir("runbookd"), fakes, **kwargs))

    return make


@pytest.fixture
def runbookd(make_runbookd: Callable[..., Runbookd]) -> Runbookd:
    """runbookd with the shipped config and rules, armed, on the fakes."""
    return make_runbookd()


@pytest.fixture
def make_alertmanager(services: Services) -> Callable[..., Alertmanager]:
    """Start an Alertmanager posting to the given runbookd; keyword arguments go to ``Alertmanager``."""
    _require("prometheus-alertmanager", "alertmanager", package="prometheus-alertmanager")

    def make(target: Runbookd, **kwargs: Any) -> Alertmanager:
        kwargs.setdefault("webhook_token", target.webhook_token)
        return services.start(Alertmanager(services.dir("alertmanager"), target.webhook_url, **kwargs))

    return make


@pytest.fixture
def alertmanager(make_alertmanager: Callable[..., Alertmanager], runbookd: Runbookd) -> Alertmanager:
    """Alertmanager (group_wait 1s, group_interval 2s) posting to ``runbookd``."""
    return make_alertmanager(runbookd)


@pytest.fixture
def make_prometheus(services: Services) -> Callable[..., Prometheus]:
    """Start a Prometheus alerting to the given Alertmanager; keyword arguments go to ``Prometheus``."""
    _require("prometheus", package="prometheus")

    def make(alertmanager: Alertmanager, **kwargs: Any) -> Prometheus:
        return services.start(Prometheus(services.dir("prometheus"), f"127.0.0.1:{alertmanager.port}", **kwargs))

    return make
