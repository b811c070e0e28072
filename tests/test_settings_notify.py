"""``notify:`` in runbookd.yml: retry policy, per-vendor time-outs and bulkheads, loaded strictly."""

from __future__ import annotations

import pytest

from receiver.errors import ConfigError
from receiver.settings import parse_settings


def test_notify_defaults() -> None:
    n = parse_settings({}).notify
    assert (n.retry.initial, n.retry.max, n.retry.jitter) == (2.0, 60.0, 1.0)
    assert n.retry.deadlines == {"P0": 600.0, "P1": 1800.0, "P2": 3600.0, "P3": 14400.0}
    assert (n.slack.connect, n.slack.read, n.pagerduty.read) == (3.0, 10.0, 10.0)
    assert n.concurrency["slack"] == 8 and n.concurrency["actions"] == 8


def test_notify_durations_are_prometheus_durations() -> None:
    n = parse_settings({"notify": {"retry": {"deadlines": {"P0": "2m30s"}}, "slack": {"read": "500ms"}}}).notify
    assert n.retry.deadline("P0") == 150.0 and n.slack.read == 0.5


@pytest.mark.parametrize("bad", [
    {"retry": {"backoff": "2s"}},          # unknown key
    {"concurrency": {"slack": 0}},          # a bulkhead needs a slot
    {"slack": {"read": "0s"}},              # a time-out must be positive
])
def test_bad_notify_config_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_settings({"notify": bad})
