"""PagerDuty notifier: Events API v2 trigger / acknowledge / resolve, keyed by the incident's dedup key.

API followed: https://developer.pagerduty.com/docs/events-api-v2/overview/ through the ``pagerduty``
package's ``EventsApiV2Client``, which is synchronous (httpx2): each event is sent in a thread of
the notifier's own pool under ``asyncio.timeout``. Its own pool, not the default executor: a broker
call hanging in the default executor's threads (alpaca-py is synchronous too) must not hold up a
page (a bulkhead at the thread level, docs/operations.md).

Each pool thread keeps one ``EventsClient`` per routing key for the notifier's life (an httpx2 client:
its TLS context, CA bundle and kept-alive connections), built on the thread's first event for that
key: building one took 20-63 ms of CPU, most of a page's cost (docs/performance.md, "Paging cost").
``aclose`` shuts the pool and closes every client.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from httpx2 import Response, Timeout
from pagerduty import EventsApiV2Client
from pagerduty.errors import Error as PagerDutyError
from pagerduty.errors import HttpError, UrlError

from receiver.errors import DeliveryError, classify_status, parse_retry_after
from receiver.notify.base import Delivery, Message
from receiver.notify.render import MessageRenderer
from receiver.rules.receivers import PagerDutyTarget
from receiver.settings import PagerDutyConfig, Settings

#: PagerDuty ``payload.severity`` by runbookd severity (DESIGN.md).
SEVERITY_MAP = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
_SUMMARY_MAX = 1024
EVENT_ACTIONS = {"page": "trigger", "ack": "acknowledge", "resolve": "resolve"}


class EventsClient(EventsApiV2Client):
    """``EventsApiV2Client`` that accepts ``http://`` base URLs and never sleeps or retries inside.

    The package's ``url`` setter refuses anything but ``https://``; DESIGN.md requires
    ``http://`` too (a local PagerDuty agent or relay, the tests' fake), so the property is
    overridden to accept both schemes. The package also retries 5xx with sleeps of seconds and 429
    without limit, inside a thread we cannot cancel; runbookd's escalation layer owns retries, so
    the retry table is cleared, network errors are not retried, and a 429 is raised at once
    (``postprocess`` is the package's documented per-response hook).
    """

    def __init__(self, routing_key: str, *, base_url: str, timeout: float, connect_timeout: float = 3.0) -> None:
        super().__init__(routing_key, base_url=base_url)
        self.retry = {}
        self.max_network_attempts = 0
        # declared int; httpx2 takes a Timeout: read (and write, pool) bound, and the connect cap
        self.timeout = Timeout(timeout, connect=min(connect_timeout, timeout))  # type: ignore[assignment]

    @property
    def url(self) -> str:
        """The Events API base URL (``http://`` or ``https://``, no trailing slash)."""
        return self._url  # type: ignore[return-value]

    @url.setter
    def url(self, new_base_url: str) -> None:
        """Set the base URL; raises ``UrlError`` for a scheme other than http(s)."""
        if not new_base_url.startswith(("https://", "http://")):
            raise UrlError("API base URL must use scheme https:// or http://")
        self._url = new_base_url.rstrip("/")

    def postprocess(self, response: Response) -> None:
        """Raise ``HttpError`` on 429 instead of letting the package sleep and retry forever."""
        if response.status_code == 429:
            raise HttpError("PagerDuty rate limit (HTTP 429)", response)


def pd_severity(message: Message, target: PagerDutyTarget) -> str:
    """The event's ``payload.severity``: the target's override, else by ``SEVERITY_MAP`` (default error)."""
    return target.severity or SEVERITY_MAP.get(message.severity, "error")


def trigger_event(message: Message, target: PagerDutyTarget) -> dict[str, Any]:
    """The ``payload`` and ``links`` of a trigger event for ``message`` (send_event keyword arguments).

    ``summary``: ``[P0] <title>: <summary>`` cut to 1024 characters (``[DRY-RUN] `` first in dry-run);
    ``source``: the ``instance`` or ``job`` label, else ``runbookd``; ``custom_details``: labels,
    annotations, incident id, playbook steps. ``target.urgency`` is not part of Events API v2 (the
    service's urgency rules decide from the severity), so it is not sent.
    """
    summary = f"[{message.severity}] {message.title}" + (f": {message.summary}" if message.summary else "")
    if message.dry_run:
        summary = "[DRY-RUN] " + summary
    labels = message.labels
    details: dict[str, Any] = {
        "incident_id": message.incident_id,
        "status": message.status,
        "labels": dict(labels),
        "summary": message.summary,
        "description": message.description,
        "playbook": list(message.actions),
    }
    if message.dry_run:
        details["dry_run"] = True
    payload: dict[str, Any] = {
        "summary": summary[:_SUMMARY_MAX],
        "source": labels.get("instance") or labels.get("job") or "runbookd",
        "severity": pd_severity(message, target),
        "custom_details": details,
    }
    for key, label in (("component", "service"), ("group", "job"), ("class", "alertname")):
        if labels.get(label):
            payload[key] = labels[label]
    if message.started_at:
        payload["timestamp"] = datetime.fromtimestamp(message.started_at, UTC).isoformat()
    links = [
        {"href": url, "text": text}
        for url, text in ((message.runbook_url, "Runbook"), (message.incident_url, "Incident in runbookd"))
        if url
    ]
    event: dict[str, Any] = {"payload": payload}
    if links:
        event["links"] = links
    return event


class PagerDutyNotifier:
    """Sends incident events to PagerDuty services by routing key name (``config.routing_keys``).

    ``send`` returns ``Delivery(ref=<dedup_key>, data={"event_action", "dedup_key", "routing_key":
    <name>})``. A target whose routing key name is unset sends nothing and returns
    ``Delivery(None, {"skipped": "pagerduty routing key 'x' not configured"})``. ``timeout`` bounds
    each event, in seconds, and ``connect_timeout`` its TCP connect; ``threads`` events are sent
    at once at most (the notifier's own thread pool).
    """

    #: A later page is triggered again (deduplicated by ``dedup_key``); nothing is edited or posted.
    replies_in_thread = False
    edits_in_place = False
    chat = False
    #: An acknowledgement or resolution made in PagerDuty is PagerDuty's state already: not sent back.
    syncs_ack = True

    def __init__(self, config: PagerDutyConfig, *, timeout: float = 10.0, connect_timeout: float = 3.0,
                 threads: int = 6) -> None:
        self._config = config
        self._timeout = timeout
        self._connect = connect_timeout
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="runbookd-pagerduty")
        # One client per pool thread and routing key, never shared between threads: the package's
        # client is an httpx2.Client subclass whose ``request`` reads and writes attributes of the
        # instance (retry counters, headers merged per call) that nothing guards, so sharing one
        # across the pool is not documented as safe; a thread-local one needs no lock on the send path.
        self._local = threading.local()
        self._clients: list[EventsClient] = []  # every client built, for aclose (guarded by _lock)
        self._lock = threading.Lock()
        self._closed = False

    def _client(self, key: str) -> EventsClient:
        """This pool thread's client for routing key ``key`` (built on its first use)."""
        mine: dict[str, EventsClient] | None = getattr(self._local, "clients", None)
        if mine is None:
            mine = self._local.clients = {}
        client = mine.get(key)
        if client is None:
            client = EventsClient(key, base_url=self._config.events_url, timeout=self._timeout,
                                  connect_timeout=self._connect)
            with self._lock:
                if self._closed:  # aclose ran while this event waited for a thread: keep nothing open
                    client.close()
                    raise DeliveryError("pagerduty notifier closed", retryable=True)
                self._clients.append(client)
            mine[key] = client
        return client

    async def aclose(self) -> None:
        """Shut the thread pool (waiting for events in flight) and close every client's connections.

        Called once, on shutdown; a ``send`` afterwards raises ``DeliveryError`` (retryable).
        """
        with self._lock:
            self._closed = True
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:  # no thread uses them now: the pool is shut
            client.close()

    @classmethod
    def from_settings(cls, settings: Settings, templates: MessageRenderer | None = None) -> PagerDutyNotifier:
        """The PagerDuty channel of ``runbookd.yml`` (``pagerduty:``, ``notify.pagerduty`` time-outs and
        ``notify.concurrency.pagerduty`` threads); off without routing keys."""
        n = settings.notify
        return cls(settings.pagerduty, timeout=n.pagerduty.read, connect_timeout=n.pagerduty.connect,
                   threads=n.concurrency.get("pagerduty", 6))

    async def send(self, target: PagerDutyTarget, message: Message) -> Delivery:
        """Send the event for ``message.kind`` with ``dedup_key=message.dedup_key``.

        ``page`` → trigger, ``ack`` → acknowledge, ``resolve`` → resolve; ``update`` and
        ``refresh`` are skipped (``{"skipped": "pagerduty has no status updates"}``).

        Raises ``DeliveryError``: retryable for 5xx, 429, network errors and timeouts; not
        retryable for other 4xx (bad routing key, invalid event).
        """
        name = target.routing_key
        key = self._config.routing_keys.get(name)
        if not key:
            return Delivery(None, {"skipped": f"pagerduty routing key '{name}' not configured"})
        action = EVENT_ACTIONS.get(message.kind)
        if action is None:
            return Delivery(None, {"skipped": "pagerduty has no status updates"})
        props = trigger_event(message, target) if action == "trigger" else {}

        def send_event() -> str:
            return self._client(key).send_event(action, dedup_key=message.dedup_key, **props)

        if self._closed:
            raise DeliveryError("pagerduty notifier closed", retryable=True)
        try:
            async with asyncio.timeout(self._timeout):  # not wait_for: it can swallow a cancellation (gh-86296)
                dedup_key = await asyncio.get_running_loop().run_in_executor(self._pool, send_event)
        except TimeoutError as e:
            raise DeliveryError(f"pagerduty {action}: no answer within {self._timeout:g}s", retryable=True,
                                unknown=True) from e
        except HttpError as e:
            status = getattr(e.response, "status_code", 0)
            headers = getattr(e.response, "headers", None)
            retry_after = parse_retry_after(headers.get("Retry-After") if headers is not None else None)
            raise DeliveryError(
                f"pagerduty {action}: HTTP {status}: {_excerpt(e)}", retryable=classify_status(status),
                retry_after=retry_after if status in (429, 503) else None,
            ) from e
        except PagerDutyError as e:
            # No response: a network error (the package wraps httpx2's TransportError).
            raise DeliveryError(f"pagerduty {action}: {_excerpt(e)}", retryable=e.response is None,
                                unknown=e.response is None) from e
        except (UrlError, ValueError, TypeError) as e:
            raise DeliveryError(f"pagerduty {action}: {e}", retryable=False) from e
        return Delivery(dedup_key, {"event_action": action, "dedup_key": dedup_key, "routing_key": name})


def _excerpt(e: Exception) -> str:
    return str(e)[:300]
