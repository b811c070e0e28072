"""``POST /webhook/alertmanager``: real captured bodies, auth, limits and error answers."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, alert, payload

CAPTURED = sorted(FIXTURES.glob("*.json"))


@pytest.mark.parametrize("path", CAPTURED, ids=[p.stem for p in CAPTURED])
async def test_captured_alertmanager_bodies_are_accepted(make_runbookd: Any, path: Path) -> None:
    """Every body captured from Alertmanager 0.25 is accepted and each of its alerts stored."""
    rb = await make_runbookd(None)
    body = path.read_bytes()
    r = await rb.post_alerts(body)
    assert r.status == 200, await r.text()
    assert (await r.json())["alerts"] == len(json.loads(body)["alerts"])


async def test_alerts_are_committed_before_the_answer(make_runbookd: Any, tmp_path: Path) -> None:
    """After the 200 the alert is in the database file, read by a separate connection."""
    rb = await make_runbookd(None)
    assert (await rb.post_alerts(payload(alert()))).status == 200
    rows = sqlite3.connect(tmp_path / "rb.db").execute("SELECT fingerprint, status FROM alerts").fetchall()
    assert rows == [("a1b2c3d4e5f60718", "firing")]


async def test_unknown_keys_from_newer_alertmanagers_are_ignored(make_runbookd: Any) -> None:
    """Keys added by later Alertmanager versions (notification_reason, routeLabels) do not break ingest."""
    rb = await make_runbookd(None)
    body = payload(alert()) | {"notification_reason": "new", "routeLabels": {"a": "b"}}
    assert (await rb.post_alerts(body)).status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"version": "4", "status": "firing", "alerts": [', None),
        (b"not json at all", None),
        (json.dumps(payload(alert()) | {"version": "3"}).encode(), "version"),
        (json.dumps({k: v for k, v in payload(alert()).items() if k != "alerts"}).encode(), "alerts"),
        (json.dumps(payload(alert() | {"labels": {}})).encode(), "alerts[0].labels"),
        (json.dumps(payload(alert() | {"status": "weird"})).encode(), "alerts[0].status"),
        (json.dumps(payload(alert() | {"startsAt": "yesterday"})).encode(), "alerts[0].startsAt"),
        (json.dumps(payload(alert() | {"labels": {"a": 1}})).encode(), "alerts[0].labels.a"),
    ],
    ids=["truncated", "not-json", "version", "no-alerts", "empty-labels", "bad-status", "bad-time", "label-type"],
)
async def test_malformed_body_is_400_naming_the_field(make_runbookd: Any, body: bytes, field: str | None) -> None:
    """A malformed body gets 400 with a JSON error naming the bad field, and nothing is stored."""
    rb = await make_runbookd(None)
    r = await rb.post_alerts(body)
    assert r.status == 400
    err = await r.json()
    assert err["field"] == field
    assert err["error"]
    assert (await rb.post_alerts(payload(alert()))).status == 200  # and the service keeps serving


async def test_oversized_body_is_413(make_runbookd: Any) -> None:
    """A 5 MB body is refused with 413 under the default 4 MiB limit."""
    rb = await make_runbookd(None)
    big = payload(alert(detail="x" * (5 * 1024 * 1024)))
    r = await rb.post_alerts(big)
    assert r.status == 413
    assert "max_body_bytes" in (await r.json())["error"]


async def test_large_label_within_limit_is_kept_intact(make_runbookd: Any, tmp_path: Path) -> None:
    """A 16 KiB label value (Alertmanager has no cap) is stored byte for byte."""
    rb = await make_runbookd(None)
    value = "é" * 8192
    assert (await rb.post_alerts(payload(alert(detail=value)))).status == 200
    row = sqlite3.connect(tmp_path / "rb.db").execute("SELECT labels FROM alerts").fetchone()
    assert json.loads(row[0])["detail"] == value


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic Zm9vOmJhcg==", "Bearer"])
async def test_bearer_token_required_when_configured(make_runbookd: Any, header: str | None) -> None:
    """With webhook.auth.bearer_token set, a missing or wrong token is 401 alike."""
    rb = await make_runbookd(None, webhook={"auth": {"bearer_token": "s3cret-token"}})
    headers = {"Authorization": header} if header else {}
    r = await rb.post_alerts(payload(alert()), **headers)
    assert r.status == 401
    assert (await r.json())["error"] == "missing or wrong credentials"
    ok = await rb.post_alerts(payload(alert()), Authorization="Bearer s3cret-token")
    assert ok.status == 200


async def test_basic_auth_as_alertmanager_sends_it(make_runbookd: Any) -> None:
    """The captured basic-auth request's header shape is accepted with the right credentials only."""
    rb = await make_runbookd(None, webhook={"auth": {"basic": {"username": "am", "password": "pw"}}})
    good = "Basic " + base64.b64encode(b"am:pw").decode()
    bad = "Basic " + base64.b64encode(b"am:nope").decode()
    assert (await rb.post_alerts(payload(alert()), Authorization=bad)).status == 401
    assert (await rb.post_alerts(payload(alert()), Authorization=good)).status == 200


async def test_store_that_cannot_commit_is_503(make_runbookd: Any, tmp_path: Path) -> None:
    """When the commit fails the answer is 503 (Alertmanager retries) and the service recovers."""
    rb = await make_runbookd(None)
    assert (await rb.post_alerts(payload(alert()))).status == 200
    db = sqlite3.connect(tmp_path / "rb.db")
    db.execute("ALTER TABLE alerts RENAME TO alerts_gone")
    db.commit()
    r = await rb.post_alerts(payload(alert(fingerprint="1111222233334444")))
    assert r.status == 503
    assert (await r.json())["error"].startswith("store unavailable")
    db.execute("ALTER TABLE alerts_gone RENAME TO alerts")
    db.commit()
    assert (await rb.post_alerts(payload(alert(fingerprint="1111222233334444")))).status == 200


async def test_received_alerts_are_counted_in_metrics(make_runbookd: Any) -> None:
    """``runbookd_alerts_received_total{status}`` counts each alert of each request."""
    rb = await make_runbookd(None)
    await rb.post_alerts(payload(alert(), alert(fingerprint="9999888877776666", **{"status": "resolved"})))
    text = await (await rb.client.get("/metrics")).text()
    assert 'runbookd_alerts_received_total{status="firing"} 1.0' in text
    assert 'runbookd_alerts_received_total{status="resolved"} 1.0' in text
    assert "runbookd_webhook_request_duration_seconds_count 1.0" in text


async def test_health_and_readiness(make_runbookd: Any) -> None:
    """``/-/healthy`` and ``/-/ready`` answer 200 while the store answers."""
    rb = await make_runbookd(None)
    assert (await rb.client.get("/-/healthy")).status == 200
    assert (await rb.client.get("/-/ready")).status == 200


async def test_admin_api_needs_the_token(make_runbookd: Any) -> None:
    """The admin API refuses requests without the bearer token."""
    rb = await make_runbookd(None)
    assert (await rb.client.get("/api/v1/incidents")).status == 401
    r = await rb.client.get("/api/v1/incidents", headers={"Authorization": "Bearer nope"})
    assert r.status == 401
