"""The shipped deployment files are valid and agree with each other.

``alertmanager/``, ``prometheus/``, ``runbookd.yml`` and ``rules/`` are checked with the real tools
(``amtool``, ``promtool``) and the project's own models, and every alert Prometheus can fire has a rule
of its own in ``rules/`` (never the built-in catch-all) with the same severity.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from receiver.rules.model import RuleFile
from receiver.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = sorted((ROOT / "rules").glob("*.yml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../docs/rules.schema.json"


def _tool(name: str, package: str) -> str:
    """Path of a Prometheus tool; skipped when it is not installed (but never on CI, which installs it)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must install it")
        pytest.skip(reason)
    return path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def _alerting_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def _rule_files() -> dict[Path, RuleFile]:
    return {p: RuleFile.model_validate(yaml.safe_load(p.read_text(encoding="utf-8"))) for p in RULE_FILES}


def test_amtool_accepts_alertmanager_config() -> None:
    """`amtool check-config` accepts alertmanager/alertmanager.yml."""
    amtool = _tool("amtool", "prometheus-alertmanager")
    got = _run(amtool, "check-config", "alertmanager/alertmanager.yml")
    assert got.returncode == 0, got.stdout + got.stderr


def test_alertmanager_sends_everything_to_runbookd() -> None:
    """Every alert reaches runbookd's webhook, resolved ones too, untruncated."""
    doc = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    assert doc["route"]["receiver"] == "runbookd"
    assert "routes" not in doc["route"]
    (receiver,) = doc["receivers"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"] == "http://127.0.0.1:9096/webhook/alertmanager"
    assert hook["send_resolved"] is True
    assert hook["max_alerts"] == 0


def test_promtool_accepts_prometheus_config() -> None:
    """`promtool check config` accepts prometheus/prometheus.yml (and the rule file it names)."""
    promtool = _tool("promtool", "prometheus")
    got = _run(promtool, "check", "config", "prometheus/prometheus.yml")
    assert got.returncode == 0, got.stdout + got.stderr


def test_promtool_accepts_alert_rules() -> None:
    """`promtool check rules` accepts prometheus/alerts.yml."""
    promtool = _tool("promtool", "prometheus")
    got = _run(promtool, "check", "rules", "prometheus/alerts.yml")
    assert got.returncode == 0, got.stdout + got.stderr


def test_promtool_alert_unit_tests_pass() -> None:
    """`promtool test rules` passes prometheus/alerts_test.yml."""
    promtool = _tool("promtool", "prometheus")
    got = _run(promtool, "test", "rules", "prometheus/alerts_test.yml")
    assert got.returncode == 0, got.stdout + got.stderr


def test_every_alert_has_severity_and_annotations() -> None:
    """Each alert carries a P0-P3 severity label and summary, description and runbook_url annotations."""
    for rule in _alerting_rules():
        assert rule.get("labels", {}).get("severity") in {"P0", "P1", "P2", "P3"}, rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(rule.get("annotations", {})), rule["alert"]


def test_rule_files_validate_and_carry_schema_comment() -> None:
    """Each shipped rule file validates against receiver.rules.model and points editors at the schema."""
    assert RULE_FILES, "rules/*.yml is empty"
    for path in RULE_FILES:
        assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_LINE, path.name
    _rule_files()


def test_rule_files_refer_only_to_defined_names() -> None:
    """Playbooks and receivers named anywhere are defined once across the shipped rule files."""
    files = _rule_files().values()
    rules = [r for f in files for r in f.rules]
    playbooks = [name for f in files for name in f.playbooks]
    receivers = [r.name for f in files for r in f.receivers]
    policies = {sev: p for f in files for sev, p in f.escalation_policies.items()}
    for names in ([r.name for r in rules], playbooks, receivers):
        assert len(names) == len(set(names)), names
    for rule in rules:
        assert rule.playbook is None or rule.playbook in playbooks, rule.name
    assert set(policies) == {"P0", "P1", "P2", "P3"}
    for sev, policy in policies.items():
        used = [n for step in policy.steps for n in step.notify]
        used += policy.updates.notify if policy.updates else []
        assert set(used) <= set(receivers), sev


def _match_with_loader(alert_labels: dict[str, str]) -> str | None:
    """The name of the first rule the project's rule loader matches, or None without a loader."""
    try:
        from receiver.rules import load_rule_files
    except ImportError:
        return None

    ruleset = load_rule_files(["rules/*.yml"], str(ROOT))
    matched = ruleset.match(alert_labels)
    assert matched, f"no rule matched {alert_labels}"
    return matched[0].name


def test_every_prometheus_alert_has_its_own_rule() -> None:
    """Every alert in prometheus/alerts.yml matches a shipped rule (not the catch-all) of its severity."""
    rules = {r.name: r for f in _rule_files().values() for r in f.rules}
    for alert in _alerting_rules():
        name = alert["alert"]
        labels = {"job": "trading-engine", "instance": "host-1:8000", **alert["labels"], "alertname": name}
        matched = _match_with_loader(labels)
        if matched is None:
            # No loader yet: the first rule (in file order) that names this alert exactly.
            matched = next((r.name for r in rules.values() if f'alertname="{name}"' in r.matchers), None)
        assert matched in rules, f"{name}: matched {matched!r}, not a rule of rules/*.yml"
        assert rules[matched].severity == alert["labels"]["severity"], name


def test_shipped_runbookd_config_works_with_an_empty_environment() -> None:
    """runbookd.yml loads with no variable set: dry-run on, integrations off, rules from rules/."""
    settings = load_settings(ROOT / "runbookd.yml", env={})
    assert settings.dry_run is True
    assert settings.listen == "127.0.0.1:9096"
    assert settings.storage == "sqlite:///data/runbookd.db"
    assert settings.rule_files == ["rules/*.yml"]
    assert not settings.slack.enabled and not settings.alpaca.enabled
    assert settings.alpaca.paper is True
    assert settings.secret_values() == []


def test_shipped_runbookd_config_reads_its_environment() -> None:
    """Each variable DESIGN.md lists lands in its key; RUNBOOKD_DRY_RUN=false arms the actions."""
    env = {
        "RUNBOOKD_LISTEN": "0.0.0.0:9999",
        "RUNBOOKD_STORAGE": "sqlite:////var/lib/runbookd/rb.db",
        "RUNBOOKD_WEBHOOK_TOKEN": "hook-token",
        "RUNBOOKD_ADMIN_TOKEN": "admin-token",
        "RUNBOOKD_DRY_RUN": "false",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_API_URL": "http://127.0.0.1:1/api",
        "SLACK_SIGNING_SECRET": "signing",
        "PAGERDUTY_ROUTING_KEY": "r" * 32,
        "PAGERDUTY_EVENTS_URL": "http://127.0.0.1:2",
        "ALPACA_API_KEY": "key1",
        "ALPACA_SECRET_KEY": "secret1",
        "ALPACA_BASE_URL": "http://127.0.0.1:3",
        "SMTP_HOST": "mail",
        "SMTP_PORT": "2525",
        "TRADING_API_URL": "http://127.0.0.1:4",
        "TRADING_ADMIN_TOKEN": "trading-token",
    }
    s = load_settings(ROOT / "runbookd.yml", env=env)
    assert (s.listen, s.storage, s.dry_run) == ("0.0.0.0:9999", "sqlite:////var/lib/runbookd/rb.db", False)
    assert (s.webhook.auth.bearer_token, s.admin.token) == ("hook-token", "admin-token")
    assert (s.slack.token, s.slack.api_url, s.slack.signing_secret) == (
        "xoxb-1",
        "http://127.0.0.1:1/api/",
        "signing",
    )
    assert (s.pagerduty.routing_keys["default"], s.pagerduty.events_url) == ("r" * 32, "http://127.0.0.1:2")
    assert (s.alpaca.api_key, s.alpaca.secret_key, s.alpaca.url_override) == (
        "key1",
        "secret1",
        "http://127.0.0.1:3",
    )
    assert (s.smtp.host, s.smtp.port) == ("mail", 2525)
    assert s.vars == {"trading_api_url": "http://127.0.0.1:4"}
    assert s.secrets == {"trading_admin_token": "trading-token"}
    assert "trading-token" in s.secret_values()


def test_runbookd_check_accepts_shipped_config() -> None:
    """`runbookd check` accepts the shipped runbookd.yml and rules with no environment set."""
    if importlib.util.find_spec("receiver.cli") is None:
        pytest.skip("receiver.cli does not exist yet")
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    got = subprocess.run(
        [sys.executable, "-m", "receiver", "check", "--config", "runbookd.yml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert got.returncode == 0, got.stdout + got.stderr
