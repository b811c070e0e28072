"""End to end: two runbookd replicas on one PostgreSQL behind an Alertmanager HA pair.

Each Alertmanager of a real two-member cluster sends to a different replica. The cluster runs with
``--cluster.peer-timeout=0s`` and the members' receivers are named differently, so both members
deliver every notification at once instead of the second one waiting and usually deduplicating: the
same alert reaches both replicas within milliseconds, the hardest case for "nothing runs twice".
The replicas share a fresh schema of the PostgreSQL on 127.0.0.1:5432; the outage test runs its own
throwaway PostgreSQL instead, so the machine's shared cluster is never stopped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from tests.e2e.conftest import WEBHOOK_TOKEN, Services, _require
from tests.e2e.harness import Alertmanager, Fakes, Runbookd, free_port, wait_until
from tests.e2e.test_alertmanager_e2e import (
    ENABLE_BREAKERS,
    all_done,
    side_effects,
    slack_resolution,
    trading_system_down,
)
from tests.store.conftest import PG_URL, require_pg, with_schema

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
LEASE = 3.0


class ClusteredAlertmanager(Alertmanager):
    """The harness's Alertmanager as one member of an HA cluster (gossip on ``cluster_port``).

    ``receiver`` renames the shipped config's ``runbookd`` receiver. Members whose receiver names
    differ do not find each other's deliveries in the gossiped notification log, so each one always
    delivers; runbookd must not care (DESIGN.md: the receiver name differs between HA members).
    """

    def __init__(self, workdir: Path, webhook_url: str, *, cluster_port: int, peers: list[int],
                 receiver: str = "runbookd", **kw: Any) -> None:
        super().__init__(workdir, webhook_url, **kw)
        self.cluster_port = cluster_port
        self.peers = peers
        if receiver != "runbookd":
            config = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
            config["route"]["receiver"] = receiver
            for r in config["receivers"]:
                if r["name"] == "runbookd":
                    r["name"] = receiver
            self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def argv(self) -> list[str]:
        """Alertmanager's argv with clustering on: peer-timeout 0 s, fast gossip and settling."""
        own = f"127.0.0.1:{self.cluster_port}"
        return [a for a in super().argv() if not a.startswith("--cluster.")] + [
            f"--cluster.listen-address={own}",
            f"--cluster.advertise-address={own}",
            *(f"--cluster.peer=127.0.0.1:{p}" for p in self.peers),
            "--cluster.peer-timeout=0s",
            "--cluster.gossip-interval=20ms",
            "--cluster.settle-timeout=2s",
        ]


def pair(services: Services, a: Runbookd, b: Runbookd) -> tuple[Alertmanager, Alertmanager]:
    """Start a two-member Alertmanager cluster: member 1 sends to ``a``, member 2 to ``b``."""
    _require("prometheus-alertmanager", "alertmanager", package="prometheus-alertmanager")
    p1, p2 = free_port(), free_port()
    am1 = services.start(ClusteredAlertmanager(services.dir("alertmanager"), a.webhook_url, cluster_port=p1,
                                               peers=[p2], webhook_token=WEBHOOK_TOKEN))
    am2 = services.start(ClusteredAlertmanager(services.dir("alertmanager"), b.webhook_url, cluster_port=p2,
                                               peers=[p1], receiver="runbookd-b", webhook_token=WEBHOOK_TOKEN))
    for am in (am1, am2):  # until the gossip settles a member holds its notifications back
        wait_until(lambda am=am: "gossip settled" in am.logs(), timeout=15, message=f"{am.url} to settle")
    return am1, am2


def fire(ams: tuple[Alertmanager, ...], alert: dict[str, Any]) -> None:
    """Post ``alert`` to every Alertmanager at the same moment (one thread each)."""
    with ThreadPoolExecutor(len(ams)) as pool:
        list(pool.map(lambda am: am.post_alerts([alert]), ams))


@pytest.fixture
def pg_storage() -> Iterator[str]:
    """A storage URL on the shared PostgreSQL with a fresh schema, dropped after the test.

    Request it before ``fakes``/``make_runbookd`` so that the replicas are stopped before the drop.
    """
    require_pg()
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    yield with_schema(PG_URL, schema)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def replica(make_runbookd: Callable[..., Runbookd], storage: str) -> Runbookd:
    """A runbookd replica on ``storage`` with a short lease (takeovers within seconds)."""
    return make_runbookd(overrides={"lease": f"{LEASE:g}s"}, extra_env={"RUNBOOKD_STORAGE": storage})


def db_rows(storage: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` run in the schema of ``storage`` (a ``?schema=`` URL)."""
    base, _, schema = storage.partition("?schema=")
    with psycopg.connect(base, options=f"-csearch_path={schema}") as conn:
        return conn.execute(sql, params).fetchall()


def test_ha_pair_into_two_replicas_runs_the_playbook_and_pages_once(
    pg_storage: str, fakes: Fakes, make_runbookd: Callable[..., Runbookd], services: Services
) -> None:
    """One P0 fired into both Alertmanagers reaches both replicas: one incident, one run, one page."""
    a, b = replica(make_runbookd, pg_storage), replica(make_runbookd, pg_storage)
    am1, am2 = pair(services, a, b)
    alert = trading_system_down()
    fire((am1, am2), alert)

    seen = wait_until(lambda: all_done(fakes), timeout=20, message="the page and every shutdown step")
    wait_until(lambda: a.metric("runbookd_alerts_received_total") >= 1
               and b.metric("runbookd_alerts_received_total") >= 1,
               timeout=15, message="both replicas to receive the alert from their Alertmanager")
    wait_until(lambda: not db_rows(pg_storage, "SELECT id FROM jobs WHERE state = 'running'"), timeout=10,
               message="no work row in flight")
    assert seen == dict.fromkeys(seen, 1)
    assert side_effects(fakes) == dict.fromkeys(seen, 1)
    for r in (a, b):
        (incident,) = r.incidents(alertname="TradingSystemDown")
        assert incident["status"] == "firing"
    (trigger,) = fakes.pagerduty_events("trigger")

    fire((am1, am2), {**alert, "endsAt": _ago(1)})
    resolves = wait_until(lambda: fakes.pagerduty_events("resolve"), timeout=20, message="a PagerDuty resolve")
    wait_until(lambda: slack_resolution(fakes), timeout=15, message="a Slack reply or edit saying resolved")
    wait_until(lambda: a.metric("runbookd_alerts_received_total", status="resolved") >= 1
               and b.metric("runbookd_alerts_received_total", status="resolved") >= 1,
               timeout=15, message="both replicas to receive the resolve")
    wait_until(lambda: not db_rows(pg_storage, "SELECT id FROM jobs WHERE state IN ('running', 'pending') "
                                               "AND due_at <= extract(epoch from now())"),
               timeout=10, message="every due work row done")
    assert [e["dedup_key"] for e in fakes.pagerduty_events("resolve")] == [trigger["dedup_key"]] == [
        e["dedup_key"] for e in resolves]
    assert side_effects(fakes) == dict.fromkeys(seen, 1)
    (incident,) = a.incidents(alertname="TradingSystemDown")
    assert incident["status"] == "resolved"


def test_sigkill_of_the_replica_running_a_step_hands_the_playbook_to_the_other(
    pg_storage: str, fakes: Fakes, make_runbookd: Callable[..., Runbookd], services: Services
) -> None:
    """kill -9 of the replica with a step in flight: the other takes it over within the lease and
    finishes the playbook; finished steps and pages are not repeated (the cut-off, idempotent step may be)."""
    a, b = replica(make_runbookd, pg_storage), replica(make_runbookd, pg_storage)
    am1, am2 = pair(services, a, b)
    fakes.delay("trading", ENABLE_BREAKERS, 120.0)
    alert = trading_system_down()
    fire((am1, am2), alert)


    def step_in_flight_pages_done() -> list[tuple[Any, ...]] | None:
        if not (fakes.requests("trading", "POST", ENABLE_BREAKERS) and fakes.pagerduty_events("trigger")
                and fakes.slack_pages("#critical")):
            return None
        running = db_rows(pg_storage, "SELECT kind, claimed_by FROM jobs WHERE state = 'running'")
        return running if [k for k, _ in running] == ["step"] else None

    # Kill while the circuit-breaker step hangs (well within its 10 s timeout) and both pages are
    # recorded as sent, so that only the step is cut off.
    ((_, claimed_by),) = wait_until(step_in_flight_pages_done, timeout=20,
                                    message="the circuit-breaker step in flight and both pages sent")
    claimer = (claimed_by,)
    pid = int(claimer[0].rsplit(":", 1)[1])
    holder, other = (a, b) if a.proc is not None and a.proc.pid == pid else (b, a)
    assert holder.proc is not None and holder.proc.pid == pid, f"no replica has pid {pid}"
    before = side_effects(fakes)
    assert (before["stop-trading"], before["cancel-orders"], before["stop-data-feeds"]) == (1, 1, 0)

    holder.kill()
    killed_at = time.monotonic()
    fakes.delay("trading", ENABLE_BREAKERS, 0.0)
    seen = wait_until(lambda: all_done(fakes), timeout=30, message="the other replica to finish the playbook")
    took = time.monotonic() - killed_at
    # The lease has at most LEASE s left at the kill; the survivor's poll tick (1 s) then claims the row
    # and runs the three remaining quick steps (the margin is for a loaded CI machine).
    assert took < LEASE + 5.0, f"takeover and the rest of the playbook took {took:.1f}s"
    assert other.metric("runbookd_store_lease_takeovers_total") >= 1
    assert seen["stop-trading"] == 1
    assert seen["cancel-orders"] == 1
    assert seen["enable-circuit-breakers"] in (1, 2)
    assert seen["stop-data-feeds"] == 1
    assert seen["pagerduty-trigger"] == 1
    assert seen["slack-page"] == 1
    assert len(other.incidents(alertname="TradingSystemDown")) == 1
    (cut_off,) = db_rows(pg_storage, "SELECT claimed_by, state FROM jobs WHERE kind = 'step' AND key LIKE %s",
                         "step:%:2")
    assert other.proc is not None and cut_off == (f"{socket.gethostname()}:{other.proc.pid}", "done")


def _ago(seconds: float) -> str:
    from datetime import UTC, datetime, timedelta

    from tests.e2e.harness import rfc3339

    return rfc3339(datetime.now(UTC) - timedelta(seconds=seconds))


# -- database outage --------------------------------------------------------------------------------

class ThrowawayPostgres:
    """A private PostgreSQL 15 (``initdb`` + ``pg_ctl``) on a free loopback port, in a temp directory.

    As root, it runs as the ``postgres`` user (``runuser``), which owns the directory. ``stop()`` and
    ``start()`` take the server down and up; ``close()`` stops it and deletes everything.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="runbookd-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(PG_BIN / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "--no-instructions")

    def _run(self, *argv: Any) -> None:
        subprocess.run([*self._as, *map(str, argv)], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "server.log", "-o", opts, "-w", "start")

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut, as in a failover)."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def close(self) -> None:
        """Stop the server if it runs and delete its directory."""
        subprocess.run([*self._as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def throwaway_pg() -> Iterator[ThrowawayPostgres]:
    """A running private PostgreSQL for a test that stops its database; removed afterwards."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"{PG_BIN}/initdb not found (apt-get install postgresql-15)")
    pg = ThrowawayPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.close()


def test_database_outage_answers_503_then_processes_resent_alerts(
    throwaway_pg: ThrowawayPostgres, fakes: Fakes, make_runbookd: Callable[..., Runbookd],
    make_alertmanager: Callable[..., Alertmanager],
) -> None:
    """Database down: /-/ready fails and the webhook answers 503; back up: Alertmanager's re-sends are
    processed and the playbook and pages run once."""
    rb = replica(make_runbookd, throwaway_pg.url)
    am = make_alertmanager(rb, group_interval="1s")

    throwaway_pg.stop()
    wait_until(lambda: rb.http.get(f"{rb.url}/-/ready").status_code == 503, timeout=15,
               message="/-/ready to report the store unavailable")
    direct = httpx.post(rb.webhook_url, json=_payload(trading_system_down()), timeout=15,
                        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert direct.status_code == 503
    assert direct.json()["error"]
    am.post_alerts([trading_system_down()])
    wait_until(lambda: rb.metric("runbookd_webhook_requests_total", code="503") >= 2, timeout=15,
               message="Alertmanager's delivery to be refused with 503")
    rb.check_alive()
    assert side_effects(fakes) == dict.fromkeys(side_effects(fakes), 0)

    throwaway_pg.start()
    wait_until(lambda: rb.http.get(f"{rb.url}/-/ready").status_code == 200, timeout=20,
               message="/-/ready once the database is back")
    seen = wait_until(lambda: all_done(fakes), timeout=30, message="the re-sent alert to be processed")
    assert seen == dict.fromkeys(seen, 1)
    assert len(rb.incidents(alertname="TradingSystemDown")) == 1


def _payload(alert: dict[str, Any]) -> dict[str, Any]:
    """A webhook body (version 4) carrying one alert given in Alertmanager's API form."""
    return {
        "version": "4", "groupKey": "{}:{alertname=\"TradingSystemDown\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "runbookd", "groupLabels": {"alertname": alert["labels"]["alertname"]},
        "commonLabels": alert["labels"], "commonAnnotations": alert["annotations"],
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [{"status": "firing", "labels": alert["labels"], "annotations": alert["annotations"],
                    "startsAt": alert["startsAt"], "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": alert["generatorURL"], "fingerprint": "0123456789abcdef"}],
    }
