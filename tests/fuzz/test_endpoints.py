"""Fuzzing every HTTP endpoint (issue 11): no answer >= 500, every 4xx a JSON error naming its field,
and afterwards a valid P0 alert still opens its incident. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from tests.conftest import ADMIN, alert, payload
from tests.fuzz.checks import problems, send
from tests.fuzz.conftest import FUZZ, SECRETS, WEBHOOK_TOKEN
from tests.fuzz.server import ThreadServer
from tests.fuzz.strategies import Case, endpoint_cases

STRATEGIES = endpoint_cases(SECRETS)


def check(server: ThreadServer, case: Case) -> None:
    answer = send(server.host, server.port, case)
    found = problems(case, answer)
    assert not found, f"{case!r}: {found}"


@pytest.mark.parametrize("endpoint", list(STRATEGIES))
def test_fuzzed_requests_get_no_5xx_and_json_errors(server: ThreadServer, endpoint: str) -> None:
    """A few hundred generated requests per endpoint: each answer obeys ``tests.fuzz.checks.problems``."""

    @FUZZ
    @given(case=STRATEGIES[endpoint])
    def run(case: Case) -> None:
        check(server, case)

    run()


def test_a_valid_p0_still_opens_its_incident(server: ThreadServer) -> None:
    """After the fuzzing (same server), a valid P0 alert is accepted and opens its P0 incident."""
    body = payload(alert("TradingSystemDown", fingerprint="f0f0f0f0f0f0f0f0", job="after-fuzz"))
    case = Case(b"POST", b"/webhook/alertmanager", [(b"Content-Type", b"application/json"),
                                                    (b"Authorization", f"Bearer {WEBHOOK_TOKEN}".encode())],
                json.dumps(body).encode(), 200)
    check(server, case)
    server.drain()
    api = Case(b"GET", b"/api/v1/incidents?alertname=TradingSystemDown",
               [(b"Authorization", f"Bearer {ADMIN}".encode())], b"", 200)
    answer = send(server.host, server.port, api)
    incidents: list[dict[str, Any]] = json.loads(answer.body)
    mine = [i for i in incidents if any(a["fingerprint"] == "f0f0f0f0f0f0f0f0" for a in i["alerts"])]
    assert mine and mine[0]["severity"] == "P0" and mine[0]["status"] == "firing"
