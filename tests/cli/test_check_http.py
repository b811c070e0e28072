"""``runbookd check`` and the http allow-list: a url that a label could aim elsewhere is an error; a url
whose configured host is not allowed is a warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

RULES = """
rules:
  - name: halt
    matchers: ['alertname="Halt"']
    severity: P3
    playbook: halt
playbooks:
  halt:
    steps:
      - name: stop
        action: http
        url: "{url}"
escalation_policies:
  P3: {{}}
"""


def check(tmp_path: Path, url: str, config: str = "") -> subprocess.CompletedProcess[str]:
    (tmp_path / "r.yml").write_text(RULES.format(url=url))
    (tmp_path / "runbookd.yml").write_text(f"rule_files: [r.yml]\n{config}")
    return subprocess.run([sys.executable, "-m", "receiver", "check", "--config", str(tmp_path / "runbookd.yml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})


def test_a_label_in_the_host_of_a_url_fails_check(tmp_path: Path) -> None:
    """``http://{{ alert.labels.host }}/stop`` exits 1 naming file, line, playbook and step."""
    r = check(tmp_path, "http://{{ alert.labels.host }}/stop")
    assert r.returncode == 1
    assert "error: r.yml:12: rule 'halt': steps[0].url: step 'stop': url: its scheme, host and port must be" in r.stderr


def test_a_configured_host_outside_the_allow_list_is_a_warning(tmp_path: Path) -> None:
    """``vars.api`` pointing at a host that ``actions.http.allowed_hosts`` does not list: check passes
    and warns that the step will be refused."""
    config = "vars: {api: 'http://127.0.0.1:6379'}\nactions: {http: {allowed_hosts: ['http://127.0.0.1:7001']}}\n"
    r = check(tmp_path, "{{ vars.api }}/stop/{{ alert.labels.x | path_segment }}", config)
    assert r.returncode == 0, r.stderr
    assert ("warning: playbook 'halt': step 'stop': 127.0.0.1:6379 is not in actions.http.allowed_hosts of this "
            "config (127.0.0.1:7001); the step will be refused when it runs") in r.stderr


def test_the_shipped_config_allows_the_trading_system_it_is_given(tmp_path: Path) -> None:
    """The shipped runbookd.yml and rules with TRADING_API_URL set: no allow-list warning."""
    r = subprocess.run([sys.executable, "-m", "receiver", "check", "--config", "runbookd.yml"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "TRADING_API_URL": "http://127.0.0.1:7001"})
    assert r.returncode == 0, r.stderr
    assert "allowed_hosts" not in r.stderr
