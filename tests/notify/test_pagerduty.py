"""PagerDutyNotifier: the real ``pagerduty`` EventsApiV2Client against the fake Events API over http://."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from receiver.errors import DeliveryError
from receiver.notify.pagerduty import PagerDutyNotifier
from receiver.rules.model import PagerDutyTarget
from receiver.settings import PagerDutyConfig
from tests.fakes.pagerduty import FakePagerDuty
from tests.notify.conftest import ROUTING_KEY, make_message

DEFAULT = PagerDutyTarget()
#: The notifiers built by the running test, closed after it (their clients hold sockets and threads).
_BUILT: list[PagerDutyNotifier] = []


def notifier(config: PagerDutyConfig, **kw: Any) -> PagerDutyNotifier:
    """A ``PagerDutyNotifier`` that the ``closed_after`` fixture closes when the test ends."""
    n = PagerDutyNotifier(config, **kw)
    _BUILT.append(n)
    return n


@pytest.fixture(autouse=True)
async def closed_after() -> AsyncIterator[None]:
    """Close every notifier the test built (``aclose``), so no socket outlives it."""
    yield
    while _BUILT:
        await _BUILT.pop().aclose()


async def trigger(pagerduty: FakePagerDuty, config: PagerDutyConfig, **overrides: Any) -> dict[str, Any]:
    """Send a page (``target`` and message fields from ``overrides``); return the event the fake got."""
    await notifier(config).send(overrides.pop("target", DEFAULT), make_message(**overrides))
    return pagerduty.events[-1]


async def test_pagerduty_over_http_works_and_the_ref_is_the_dedup_key(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    assert pagerduty_config.events_url.startswith("http://")
    delivery = await notifier(pagerduty_config).send(DEFAULT, make_message())
    assert delivery.ref == "runbookd-inc-42"
    assert delivery.data == {
        "event_action": "trigger",
        "dedup_key": "runbookd-inc-42",
        "routing_key": "default",
    }
    [event] = pagerduty.events
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger" and event["dedup_key"] == "runbookd-inc-42"


async def test_a_trigger_carries_summary_source_severity_and_details(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    payload = (await trigger(pagerduty, pagerduty_config))["payload"]
    assert payload["summary"] == "[P0] TradingSystemDown: Trading system is down"
    assert payload["source"] == "exec-1:9100"
    assert payload["severity"] == "critical"
    assert payload["class"] == "TradingSystemDown" and payload["group"] == "execution"
    assert payload["timestamp"] == "2027-01-15T08:00:00+00:00"
    details = payload["custom_details"]
    assert details["incident_id"] == "inc-42"
    assert details["labels"]["job"] == "execution"
    assert details["description"] == "No heartbeat from execution for 2m"
    assert details["playbook"] == ["stop-trading (http): ok — 200"]


async def test_a_trigger_links_the_runbook_and_the_incident(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    event = await trigger(pagerduty, pagerduty_config)
    assert event["links"] == [
        {"href": "https://runbooks.example.com/trading-down", "text": "Runbook"},
        {"href": "http://127.0.0.1:9096/incidents/inc-42", "text": "Incident in runbookd"},
    ]


@pytest.mark.parametrize(
    ("severity", "expected"), [("P0", "critical"), ("P1", "error"), ("P2", "warning"), ("P3", "info")]
)
async def test_severity_maps_to_pagerduty_severity(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig, severity: str, expected: str
) -> None:
    assert (await trigger(pagerduty, pagerduty_config, severity=severity))["payload"]["severity"] == expected


async def test_the_receivers_severity_overrides_the_mapping(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    target = PagerDutyTarget(severity="warning")
    assert (await trigger(pagerduty, pagerduty_config, target=target))["payload"]["severity"] == "warning"


async def test_source_falls_back_to_job_then_runbookd(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    assert (await trigger(pagerduty, pagerduty_config, labels={"job": "risk"}))["payload"]["source"] == "risk"
    assert (await trigger(pagerduty, pagerduty_config, labels={}))["payload"]["source"] == "runbookd"


async def test_the_summary_is_cut_to_1024_characters(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    payload = (await trigger(pagerduty, pagerduty_config, summary="x" * 3000))["payload"]
    assert len(payload["summary"]) == 1024


async def test_a_dry_run_trigger_is_marked(pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig) -> None:
    payload = (await trigger(pagerduty, pagerduty_config, dry_run=True))["payload"]
    assert payload["summary"].startswith("[DRY-RUN] [P0]")
    assert payload["custom_details"]["dry_run"] is True


@pytest.mark.parametrize(("kind", "action"), [("ack", "acknowledge"), ("resolve", "resolve")])
async def test_ack_and_resolve_send_their_event_for_the_dedup_key(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig, kind: str, action: str
) -> None:
    delivery = await notifier(pagerduty_config).send(DEFAULT, make_message(kind=kind))
    [event] = pagerduty.events
    assert event["event_action"] == action and event["dedup_key"] == "runbookd-inc-42"
    assert "payload" not in event
    assert delivery.ref == "runbookd-inc-42"


@pytest.mark.parametrize("kind", ["update", "refresh"])
async def test_updates_and_refreshes_are_skipped(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig, kind: str
) -> None:
    delivery = await notifier(pagerduty_config).send(DEFAULT, make_message(kind=kind))
    assert delivery.ref is None and delivery.data == {"skipped": "pagerduty has no status updates"}
    assert pagerduty.count() == 0


async def test_a_routing_key_that_is_not_configured_is_skipped(pagerduty: FakePagerDuty) -> None:
    config = PagerDutyConfig(events_url=pagerduty.url, routing_keys={"default": None})
    delivery = await notifier(config).send(PagerDutyTarget(routing_key="default"), make_message())
    assert delivery.data == {"skipped": "pagerduty routing key 'default' not configured"}
    delivery = await notifier(config).send(PagerDutyTarget(routing_key="risk"), make_message())
    assert delivery.data == {"skipped": "pagerduty routing key 'risk' not configured"}
    assert pagerduty.count() == 0


async def test_a_500_is_retryable_and_not_retried_inside_the_package(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    pagerduty.fail_next(3, 500)
    started = time.monotonic()
    with pytest.raises(DeliveryError) as exc:
        await notifier(pagerduty_config).send(DEFAULT, make_message())
    assert exc.value.retryable is True and "500" in exc.value.reason
    assert pagerduty.count() == 1
    assert time.monotonic() - started < 1


async def test_a_429_is_retryable_and_not_retried_inside_the_package(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    pagerduty.fail_next(3, 429)
    with pytest.raises(DeliveryError) as exc:
        await notifier(pagerduty_config).send(DEFAULT, make_message())
    assert exc.value.retryable is True and "429" in exc.value.reason
    assert pagerduty.count() == 1


async def test_an_invalid_event_400_is_not_retryable(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    pagerduty.fail_next(1, 400, body={"status": "invalid event", "message": "Event object is invalid"})
    with pytest.raises(DeliveryError) as exc:
        await notifier(pagerduty_config).send(DEFAULT, make_message())
    assert exc.value.retryable is False and "400" in exc.value.reason


async def test_a_401_is_not_retryable(pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig) -> None:
    pagerduty.fail_next(1, 401)
    with pytest.raises(DeliveryError) as exc:
        await notifier(pagerduty_config).send(DEFAULT, make_message())
    assert exc.value.retryable is False
    assert ROUTING_KEY not in exc.value.reason


async def test_an_unreachable_events_api_is_retryable_without_sleeping(dead_url: str) -> None:
    config = PagerDutyConfig(events_url=dead_url, routing_keys={"default": ROUTING_KEY})
    started = time.monotonic()
    with pytest.raises(DeliveryError) as exc:
        await notifier(config).send(DEFAULT, make_message())
    assert exc.value.retryable is True
    assert time.monotonic() - started < 1


async def test_a_slow_events_api_times_out_as_retryable(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    pagerduty.delay = 2.0
    started = time.monotonic()
    with pytest.raises(DeliveryError) as exc:
        await notifier(pagerduty_config, timeout=0.3).send(DEFAULT, make_message())
    assert time.monotonic() - started < 1.5
    assert exc.value.retryable is True


async def test_a_non_http_events_url_is_not_retryable(pagerduty: FakePagerDuty) -> None:
    config = PagerDutyConfig(events_url="ftp://events.example.com", routing_keys={"default": ROUTING_KEY})
    with pytest.raises(DeliveryError) as exc:
        await notifier(config).send(DEFAULT, make_message())
    assert exc.value.retryable is False


async def test_a_429_carries_its_retry_after_in_seconds(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    pagerduty.fail_next(1, 429, headers={"Retry-After": "45"})
    with pytest.raises(DeliveryError) as exc:
        await notifier(pagerduty_config).send(DEFAULT, make_message())
    assert exc.value.retry_after == 45.0 and exc.value.unknown is False


async def test_a_dropped_connection_is_retryable_with_an_unknown_outcome(
    pagerduty: FakePagerDuty, pagerduty_config: PagerDutyConfig
) -> None:
    pagerduty.close_next()
    with pytest.raises(DeliveryError) as exc:
        await notifier(pagerduty_config).send(DEFAULT, make_message())
    assert exc.value.retryable is True and exc.value.unknown is True


async def test_events_reuse_one_client_per_pool_thread(pagerduty: FakePagerDuty,
                                                        pagerduty_config: PagerDutyConfig) -> None:
    """Five events from a one-thread pool travel over one kept-alive connection (one client, not one per event)."""
    n = notifier(pagerduty_config, threads=1)
    for i in range(5):
        await n.send(DEFAULT, make_message(dedup_key=f"runbookd-inc-{i}"))
    peers = [r["peer"] for r in pagerduty.calls("/v2/enqueue")]
    assert len(peers) == 5 and len(set(peers)) == 1


async def test_send_then_aclose_leaks_no_socket_nor_thread(pagerduty: FakePagerDuty,
                                                           pagerduty_config: PagerDutyConfig) -> None:
    """Events from several pool threads, then ``aclose``: with ResourceWarning an error and a garbage
    collection, no socket is left unclosed and no pool thread is left running; a send afterwards is refused
    (retryable), not sent on a closed client."""
    import gc
    import threading
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        n = PagerDutyNotifier(pagerduty_config, threads=3)
        await asyncio.gather(*(n.send(DEFAULT, make_message(dedup_key=f"k{i}")) for i in range(12)))
        await n.send(PagerDutyTarget(routing_key="default"), make_message(kind="resolve", dedup_key="k0"))
        assert len(pagerduty.events) == 13
        await n.aclose()
        with pytest.raises(DeliveryError) as e:
            await n.send(DEFAULT, make_message())
        assert e.value.retryable and len(pagerduty.events) == 13
        unraisable: list[Any] = []
        hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
        try:
            del n
            gc.collect()
        finally:
            sys.unraisablehook = hook
        assert unraisable == []
    assert not [t for t in threading.enumerate() if t.name.startswith("runbookd-pagerduty")]
