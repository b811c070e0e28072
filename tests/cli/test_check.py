"""``runbookd check`` as operators and CI run it: exit codes and ``file:line: rule 'x'`` messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def check(config: Path | str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "receiver", "check", "--config", str(config)],
                          cwd=cwd, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_shipped_config_and_rules_pass_with_no_environment() -> None:
    """The shipped runbookd.yml and rules/ are valid with no environment variable set at all."""
    r = check(ROOT / "runbookd.yml")
    assert r.returncode == 0, r.stderr
    assert "SUCCESS" in r.stdout


def test_every_example_folder_passes() -> None:
    """Each examples/<system>/ rule set (with its own runbookd.yml) passes check."""
    for cfg in sorted(ROOT.glob("examples/*/runbookd.yml")):
        r = check(cfg)
        assert r.returncode == 0, f"{cfg}: {r.stderr}"


def test_bad_rule_files_fail_naming_file_line_and_rule(tmp_path: Path) -> None:
    """Against the folder of bad rule files, check exits 1 and names file, line and rule per error."""
    bad = ROOT / "tests" / "rules" / "bad"
    cfg = tmp_path / "runbookd.yml"
    cfg.write_text(f"rule_files: ['{bad}/*.yml']\npagerduty: {{routing_keys: {{default: ''}}}}\n")
    r = check(cfg)
    assert r.returncode == 1
    lines = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    assert len(lines) >= 15
    assert f"error: {bad}/bad_severity.yml:5: rule 'trading-down': severity: must be one of P0, P1, P2, P3" in lines
    assert f"error: {bad}/unknown_key.yml:5: rule 'trading-down': unknown key 'foo'" in lines
    assert any(x.startswith(f"error: {bad}/yaml_syntax.yml:4: invalid YAML") for x in lines)
    assert "FAILED" in r.stderr


def test_broken_config_is_named(tmp_path: Path) -> None:
    """An unknown key in runbookd.yml fails check with the key named."""
    cfg = tmp_path / "runbookd.yml"
    cfg.write_text("listen: 127.0.0.1:9096\nslak: {}\n")
    r = check(cfg)
    assert r.returncode == 1
    assert "slak: unknown key" in r.stderr


def test_every_error_of_two_bad_files_is_reported_in_one_run(tmp_path: Path) -> None:
    """Two bad files: each one's errors are all printed, per-file (schema) and cross-file (regex, duplicate
    step) alike, and a reference the invalid file may have defined is not made an error."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text(
        "rules:\n"
        "  - name: trading-down\n"
        "    matchers: ['alertname=\"TradingSystemDown\"']\n"
        "    severity: P5\n"
        "    colour: red\n"
        "playbooks:\n"
        "  halt: {steps: [{name: note, action: log, message: halted}]}\n")
    (tmp_path / "rules" / "b.yml").write_text(
        "rules:\n"
        "  - name: risk-down\n"
        "    matchers: ['service=~\"risk|(execution\"']\n"
        "    severity: P1\n"
        "    playbook: halt\n"
        "playbooks:\n"
        "  flatten:\n"
        "    steps:\n"
        "      - {name: stop, action: log, message: one}\n"
        "      - {name: stop, action: log, message: two}\n")
    cfg = tmp_path / "runbookd.yml"
    cfg.write_text("rule_files: ['rules/*.yml']\n")
    r = check(cfg, cwd=tmp_path)
    assert r.returncode == 1
    errors = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    assert errors == [
        "error: rules/a.yml:4: rule 'trading-down': severity: must be one of P0, P1, P2, P3",
        "error: rules/a.yml:5: rule 'trading-down': unknown key 'colour'",
        "error: rules/b.yml:3: rule 'risk-down': matchers[0]: invalid matcher 'service=~\"risk|(execution\"': bad "
        "regex \"risk|(execution\": missing ): ^(?:risk|(execution)$",
        "error: rules/b.yml:10: rule 'flatten': steps[1].name: duplicate step name 'stop' (first defined at "
        "rules/b.yml:9)",
    ], r.stderr
    assert "FAILED: 4 error(s)" in r.stderr
