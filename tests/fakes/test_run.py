"""The fakes run as one process for end-to-end tests and expose their recordings over HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``python -m tests.fakes.run`` started and stopped; yields the URL map from its port file."""
    port_file = tmp_path / "fakes.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.run", "--port-file", str(port_file), "--trading-token", "tok"],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert proc.poll() is None, "fakes exited early"
            assert time.monotonic() < deadline, "fakes did not write their port file"
            time.sleep(0.05)
        yield json.loads(port_file.read_text(encoding="utf-8"))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_the_port_file_names_all_four_fakes(fakes: dict[str, str]) -> None:
    assert set(fakes) == {"slack", "pagerduty", "alpaca", "trading"}
    assert all(url.startswith("http://127.0.0.1:") for url in fakes.values())


def test_requests_are_listed_by_get_requests_and_cleared_by_reset(fakes: dict[str, str]) -> None:
    with httpx.Client() as http:
        http.post(
            f"{fakes['trading']}/admin/trading/emergency-stop",
            json={"why": "x"},
            headers={"Authorization": "Bearer tok"},
        )
        [req] = http.get(f"{fakes['trading']}/_requests").json()
        assert req["method"] == "POST" and req["path"] == "/admin/trading/emergency-stop"
        assert req["json"] == {"why": "x"} and isinstance(req["time"], float)
        http.post(f"{fakes['trading']}/_reset").raise_for_status()
        assert http.get(f"{fakes['trading']}/_requests").json() == []


def test_failures_can_be_injected_over_http(fakes: dict[str, str]) -> None:
    with httpx.Client() as http:
        http.post(f"{fakes['pagerduty']}/_fail", json={"count": 1, "status": 503}).raise_for_status()
        event = {"routing_key": "k", "event_action": "resolve", "dedup_key": "d"}
        assert http.post(f"{fakes['pagerduty']}/v2/enqueue", json=event).status_code == 503
        assert http.post(f"{fakes['pagerduty']}/v2/enqueue", json=event).status_code == 202


def _four_free_ports() -> int:
    """A port N such that N..N+3 were all free a moment ago on 127.0.0.1."""
    import socket

    for _ in range(50):
        socks = [socket.socket()]
        try:
            socks[0].bind(("127.0.0.1", 0))
            base = socks[0].getsockname()[1]
            for i in range(1, 4):
                socks.append(socket.socket())
                socks[-1].bind(("127.0.0.1", base + i))
            return int(base)
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no four consecutive free ports")


def test_base_port_serves_the_four_fakes_on_fixed_consecutive_ports(tmp_path: Path) -> None:
    """--base-port N puts slack, pagerduty, alpaca and trading on N..N+3 (as deploy/compose.yml runs them)."""
    base = _four_free_ports()
    port_file = tmp_path / "fakes.json"
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.run", "--base-port", str(base), "--port-file",
                             str(port_file)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        printed = json.loads(proc.stdout.readline())
        assert printed == {name: f"http://127.0.0.1:{base + i}"
                           for i, name in enumerate(["slack", "pagerduty", "alpaca", "trading"])}
        assert json.loads(port_file.read_text(encoding="utf-8")) == printed
        assert httpx.get(f"{printed['alpaca']}/_requests").json() == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        assert proc.returncode == 0
