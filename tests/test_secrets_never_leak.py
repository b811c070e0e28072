"""Distinctive secrets set everywhere never appear in logs, the audit log, API answers, post-mortems
or the database file (docs/access.md, "Secrets")."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import structlog

from receiver.access import tokens
from receiver.logs import configure_logging
from receiver.store import audit
from tests.conftest import alert, payload

S = {
    "admin": "ADMINSECRET-5d1f0c",
    "webhook": "WEBHOOKSECRET-92ab4e",
    "slack_token": "xoxb-SLACKSECRET-77c1",
    "signing": "SIGNINGSECRET-0b3d",
    "pd_secret": "PDWEBHOOKSECRET-4e8a",
    "routing": "ROUTINGKEYSECRET-aa1100000000000",
    "alpaca_key": "PKALPACAKEYSECRET",
    "alpaca_secret": "ALPACASECRETSECRET-11",
    "trading": "TRADINGTOKENSECRET-6f2c",
}


@pytest.fixture
def json_logs() -> Any:
    yield
    structlog.reset_defaults()


async def test_no_secret_leaks_anywhere(make_runbookd: Any, fakes: Any, tmp_path: Path, capfd: Any,
                                        json_logs: Any) -> None:
    """Ingest, a playbook that sends the trading token, pages, a personal token's ack, a Slack command
    and refusals: no configured secret and no personal token is in any output."""
    fakes.slack.token, fakes.trading.token = S["slack_token"], S["trading"]
    fakes.alpaca.api_key, fakes.alpaca.secret_key = S["alpaca_key"], S["alpaca_secret"]
    rb = await make_runbookd(
        fakes, admin={"token": S["admin"]}, webhook={"auth": {"bearer_token": S["webhook"]}},
        slack={"token": S["slack_token"], "api_url": f"{fakes.slack.url}/api/", "signing_secret": S["signing"]},
        pagerduty={"events_url": fakes.pagerduty.url, "webhook_secret": S["pd_secret"],
                   "routing_keys": {"default": S["routing"], "secondary": S["routing"] + "2"}},
        alpaca={"api_key": S["alpaca_key"], "secret_key": S["alpaca_secret"], "url_override": fakes.alpaca.url},
        secrets={"trading_admin_token": S["trading"]},
        access={"people": [{"name": "ada", "role": "admin", "slack_users": ["U0ADA"]}]})
    configure_logging("debug", "json", rb.c.settings.secret_values())
    assert (await rb.post_alerts(payload(alert()), Authorization=f"Bearer {S['webhook']}")).status == 200
    await rb.run()
    assert fakes.trading.accepted, "the playbook sent the trading token"
    personal = await rb.c.store.transaction(lambda tx: tokens.create(tx, "ada", None, by="t", now=rb.clock.now()))
    auth = {"Authorization": f"Bearer {personal.secret}"}
    [inc] = await (await rb.client.get("/api/v1/incidents", headers=auth)).json()
    bad = {"Authorization": "Bearer rbk_0_bad"}
    assert (await rb.client.post("/api/v1/incidents/x/ack", headers=bad)).status == 401
    body = urlencode({"command": "/runbookd", "text": f"resolve {inc['id']}", "user_id": "U0NOBODY"}).encode()
    stamp = str(int(rb.clock.now()))
    sig = "v0=" + hmac.new(S["signing"].encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    await rb.client.post("/slack/commands", data=body, headers={
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig,
        "Content-Type": "application/x-www-form-urlencoded"})
    assert (await rb.client.post(f"/api/v1/incidents/{inc['id']}/resolve", headers=auth)).status == 200
    await rb.run()
    assert (await rb.client.post("/-/reload", headers=auth)).status == 200

    outputs = {
        "api": json.dumps([await (await rb.client.get(p, headers=auth)).json() for p in (
            "/api/v1/incidents", f"/api/v1/incidents/{inc['id']}", "/api/v1/automation")]),
        "postmortem": await (await rb.client.get(f"/api/v1/incidents/{inc['id']}/postmortem", headers=auth)).text(),
        "audit": json.dumps(await rb.c.store.read(lambda tx: list(audit.export_rows(tx._x)))),
        "logs": "".join(capfd.readouterr()),
        "database": b"".join(p.read_bytes() for p in tmp_path.glob("rb.db*")).decode("latin-1"),
    }
    assert "incident.resolved" in outputs["audit"] and "access.refused" in outputs["audit"]
    assert "incident opened" in outputs["logs"]
    for where, text in outputs.items():
        for name, secret in [*S.items(), ("personal token", personal.secret)]:
            assert secret not in text, f"{name} appears in {where}"
