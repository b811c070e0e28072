"""What the webhook refuses or repairs at the edge (docs/operations.md, "What runbookd refuses at the edge").

Each test runs on SQLite and on PostgreSQL: PostgreSQL text and jsonb cannot hold U+0000, so a NUL
that reached the store used to fail the whole group commit there.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import TESTDATA, alert, payload


def sample(rb: Any, name: str, **labels: str) -> float:
    """The value of a metric sample of ``rb``'s registry (0 when it was never set)."""
    return rb.c.metrics.registry.get_sample_value(name, labels) or 0.0


async def stored_alerts(rb: Any) -> dict[str, Any]:
    """Every alert row of the store, by fingerprint (read through the store's own reader)."""
    def read(tx: Any) -> Any:
        return tx._cur.execute("SELECT fingerprint, labels, annotations, generator_url FROM alerts").fetchall()
    rows = await rb.c.store.read(read)
    return {r[0]: (json.loads(r[1]) if isinstance(r[1], str) else r[1],
                   json.loads(r[2]) if isinstance(r[2], str) else r[2], r[3]) for r in rows}


async def test_nul_in_fingerprint_is_400_naming_the_field(make_runbookd: Any, storage: dict[str, Any]) -> None:
    """A NUL in ``fingerprint`` is a 400 naming ``alerts[0].fingerprint``, not a 503 retried forever."""
    rb = await make_runbookd(None, **storage)
    r = await rb.post_alerts(payload(alert(fingerprint="a1b2c3d4\u0000e5f607")))
    assert r.status == 400, await r.text()
    assert (await r.json())["field"] == "alerts[0].fingerprint"


@pytest.mark.parametrize("fp", ["a b", "a\tb", "\u00e9", "x" * 65, ""],
                         ids=["space", "tab", "non-ascii", "long", "empty"])
async def test_fingerprint_that_alertmanager_cannot_send_is_400(make_runbookd: Any, fp: str) -> None:
    """A fingerprint must be 1–64 visible ASCII characters (Alertmanager sends 16 hex digits)."""
    rb = await make_runbookd(None)
    r = await rb.post_alerts(payload(alert(fingerprint=fp)))
    assert r.status == 400
    assert (await r.json())["field"] == "alerts[0].fingerprint"


async def test_bad_request_fails_alone_in_its_group_commit(make_runbookd: Any, storage: dict[str, Any]) -> None:
    """Forty valid requests sharing a group commit with a bad one are all 200; only the bad one is 400."""
    rb = await make_runbookd(None, **storage)
    good = [payload(alert(fingerprint=f"{i:016x}", instance=f"host-{i}")) for i in range(40)]
    bad = payload(alert(fingerprint="bad\u0000fingerprint"))
    answers = await asyncio.gather(*(rb.post_alerts(b) for b in [*good[:20], bad, *good[20:]]))
    codes = [r.status for r in answers]
    assert codes[20] == 400
    assert codes[:20] + codes[21:] == [200] * 40
    assert len(await stored_alerts(rb)) == 40


async def test_nul_in_generator_url_is_replaced_and_the_alert_kept(make_runbookd: Any,
                                                                   storage: dict[str, Any]) -> None:
    """A NUL in ``generatorURL`` becomes U+FFFD: the alert is stored (200) and the repair counted."""
    rb = await make_runbookd(None, **storage)
    body = payload(alert() | {"generatorURL": "http://prometheus:9090/graph?g0.expr=up\u0000"})
    r = await rb.post_alerts(body)
    assert r.status == 200, await r.text()
    rows = await stored_alerts(rb)
    assert rows["a1b2c3d4e5f60718"][2] == "http://prometheus:9090/graph?g0.expr=up\ufffd"
    assert sample(rb, "runbookd_webhook_nul_replaced_total", field="generatorURL") == 1


async def test_nul_in_labels_and_annotations_is_replaced_and_the_page_kept(
        fakes: Any, make_runbookd: Any, storage: dict[str, Any]) -> None:
    """NULs in label names, label values and annotations become U+FFFD; the alert opens its incident."""
    rb = await make_runbookd(fakes, **storage)
    a = alert("Poison\u0000Alert", **{"bad\u0000name": "v"})
    a["annotations"]["summary"] = "s\u0000s"
    r = await rb.post_alerts(payload(a))
    assert r.status == 200, await r.text()
    labels, annotations, _ = (await stored_alerts(rb))["a1b2c3d4e5f60718"]
    assert labels["alertname"] == "Poison\ufffdAlert" and labels["bad\ufffdname"] == "v"
    assert annotations["summary"] == "s\ufffds"
    assert sample(rb, "runbookd_webhook_nul_replaced_total", field="labels") == 2
    assert sample(rb, "runbookd_webhook_nul_replaced_total", field="annotations") == 2  # summary, description
    await rb.run()
    incidents = await rb.api("/api/v1/incidents")
    assert [i["labels"].get("alertname") for i in incidents] == ["Poison\ufffdAlert"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"startsAt": "0001-01-01T00:00:00+01:00"}, "alerts[0].startsAt"),
        ({"startsAt": "9999-12-31T23:59:59-01:00"}, "alerts[0].startsAt"),
        ({"startsAt": 1700000000}, "alerts[0].startsAt"),
        ({"startsAt": -62135596801}, "alerts[0].startsAt"),
        ({"startsAt": 1.7e9}, "alerts[0].startsAt"),
        ({"startsAt": "1700000000"}, "alerts[0].startsAt"),
        ({"startsAt": "2026-11-22"}, "alerts[0].startsAt"),
        ({"startsAt": "2026-11-22T01:37:32"}, "alerts[0].startsAt"),
        ({"startsAt": "2026-11-22T01:37:32.0123456789Z"}, "alerts[0].startsAt"),
        ({"status": "resolved", "endsAt": "9999-12-31T23:59:59-01:00"}, "alerts[0].endsAt"),
        ({"status": "resolved", "endsAt": 1700000000}, "alerts[0].endsAt"),
    ],
    ids=["year-0", "year-10000", "int", "negative-int", "float", "digits", "date-only", "no-offset",
         "ten-digits", "ends-overflow", "ends-int"],
)
async def test_time_that_is_not_rfc3339_in_range_is_400(make_runbookd: Any, change: dict[str, Any],
                                                        field: str) -> None:
    """``startsAt``/``endsAt`` must be RFC 3339 strings whose UTC instant exists: else 400 with the field."""
    rb = await make_runbookd(None)
    r = await rb.post_alerts(payload(alert() | change))
    assert r.status == 400, await r.text()
    assert (await r.json())["field"] == field


@pytest.mark.parametrize("text", ["2026-11-22T01:37:32Z", "2026-11-22T01:37:32.084422123Z",
                                  "2026-11-22t01:37:32.5z", "2026-11-22T02:37:32+01:00",
                                  "0001-01-01T00:00:00Z", "0001-01-01T00:00:00-01:00"])
async def test_rfc3339_times_are_accepted(make_runbookd: Any, text: str) -> None:
    """RFC 3339 with 0–9 fractional digits, any case of T and Z, and offsets that stay in range, are read."""
    rb = await make_runbookd(None)
    r = await rb.post_alerts(payload(alert(starts_at=text)))
    assert r.status == 200, await r.text()


@pytest.mark.parametrize("value", ["1e30", "1.0", "100000000000000000000000000000", "-1", '"3"', "null"])
async def test_truncated_alerts_must_be_a_count(make_runbookd: Any, value: str) -> None:
    """``truncatedAlerts`` must be a non-negative JSON integer below 2**63: else 400 naming it."""
    rb = await make_runbookd(None)
    body = json.dumps(payload(alert())).replace('"truncatedAlerts": 0', f'"truncatedAlerts": {value}')
    r = await rb.post_alerts(body.encode())
    assert r.status == 400, await r.text()
    assert (await r.json())["field"] == "truncatedAlerts"


async def test_every_response_is_counted_by_code(make_runbookd: Any) -> None:
    """``runbookd_webhook_requests_total{code}`` counts every answer: 200, 400, 401 and 413 alike."""
    rb = await make_runbookd(None, webhook={"auth": {"bearer_token": "t"}, "max_body_bytes": 4096})
    auth = {"Authorization": "Bearer t"}
    await rb.post_alerts(payload(alert()), **auth)
    await rb.post_alerts(payload(alert(starts_at="0001-01-01T00:00:00+01:00")), **auth)
    await rb.post_alerts(payload(alert()))
    await rb.post_alerts(payload(alert(detail="x" * 5000)), **auth)
    codes = {c: sample(rb, "runbookd_webhook_requests_total", code=c) for c in ("200", "400", "401", "413")}
    assert codes == {"200": 1, "400": 1, "401": 1, "413": 1}


async def test_body_without_fingerprints_gets_alertmanagers(make_runbookd: Any, storage: dict[str, Any]) -> None:
    """A body from Alertmanager before 0.19 (no ``fingerprint``) is accepted with the fingerprints
    Alertmanager computes, and counted as a legacy body."""
    rb = await make_runbookd(None, **storage)
    captured = json.loads((TESTDATA / "am025-fp-004-hook-default-group-firing-4a.json").read_text())
    want = sorted(a.pop("fingerprint") for a in captured["alerts"])
    r = await rb.post_alerts(json.dumps(captured).encode())
    assert r.status == 200, await r.text()
    assert sorted(await stored_alerts(rb)) == want
    assert sample(rb, "runbookd_webhook_legacy_bodies_total", reason="no_fingerprint") == 1


async def test_body_without_version_is_read_as_version_4(make_runbookd: Any) -> None:
    """A body with no ``version`` is read as version 4 and counted; a present "3" is still a 400."""
    rb = await make_runbookd(None)
    body = {k: v for k, v in payload(alert()).items() if k != "version"}
    r = await rb.post_alerts(body)
    assert r.status == 200, await r.text()
    assert sample(rb, "runbookd_webhook_legacy_bodies_total", reason="no_version") == 1
    r = await rb.post_alerts(payload(alert()) | {"version": "3"})
    assert r.status == 400 and (await r.json())["field"] == "version"
    r = await rb.post_alerts(payload(alert()) | {"version": 4})
    assert r.status == 400 and (await r.json())["field"] == "version"


async def test_a_503_is_counted_too(make_runbookd: Any, tmp_path: Any) -> None:
    """A store that cannot commit answers 503, and that answer is counted under code 503."""
    import sqlite3

    rb = await make_runbookd(None)
    db = sqlite3.connect(tmp_path / "rb.db")
    db.execute("ALTER TABLE alerts RENAME TO alerts_gone")
    db.commit()
    assert (await rb.post_alerts(payload(alert()))).status == 503
    assert sample(rb, "runbookd_webhook_requests_total", code="503") == 1
    db.execute("ALTER TABLE alerts_gone RENAME TO alerts")
    db.commit()
