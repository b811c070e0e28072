"""The suite's skip policy (tests/conftest.py): skips are listed with their reason, and fail on CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import prerequisites
from tests.conftest import ROOT

SKIPPING = """
import pytest

def test_needs_something():
    pytest.skip("frobnicator is not installed (apt-get install frobnicator)")

def test_runs():
    assert True
"""


def _pytest(tmp_path: Path, ci: str | None, path: str | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(SKIPPING)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -ra\nasyncio_default_fixture_loop_scope = function\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(ROOT)}
    if ci is not None:
        env["CI"] = ci
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                           str(tmp_path / "test_inner.py")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_outside_ci_a_skip_is_listed_with_its_reason(tmp_path: Path) -> None:
    """Without CI a skip passes the run, and the summary names the skipped test and why."""
    got = _pytest(tmp_path, None)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "SKIPPED [1] test_inner.py:5: frobnicator is not installed (apt-get install frobnicator)" in got.stdout
    assert "1 test(s) skipped" in got.stdout
    assert "1 passed, 1 skipped" in got.stdout


def test_on_ci_a_skip_fails_the_run(tmp_path: Path) -> None:
    """With CI=true the skipped test is a failure that carries its skip reason; CI=false is not CI."""
    got = _pytest(tmp_path, "true")
    assert got.returncode == 1, got.stdout + got.stderr
    assert "skipped on CI, which must run every test: frobnicator is not installed" in got.stdout
    assert "1 failed, 1 passed" in got.stdout
    assert _pytest(tmp_path, "false").returncode == 0


def test_a_missing_binary_is_named_with_its_command_at_the_top_and_the_end(tmp_path: Path) -> None:
    """Without the Prometheus tools on PATH, the header and the final summary both give the apt-get line."""
    got = _pytest(tmp_path, None, path=str(tmp_path))
    header, _, rest = got.stdout.partition("collected")
    for part in (header, rest):
        assert "amtool is not on PATH (Debian package prometheus-alertmanager)" in part, got.stdout
        assert prerequisites.APT_TOOLS in part


def test_prerequisites_name_the_apt_command_for_a_missing_binary(tmp_path: Path) -> None:
    """With PATH holding none of the tools, `python -m tests.prerequisites` exits 1 with the apt-get line."""
    env = {"PATH": str(tmp_path), "PYTHONPATH": str(ROOT)}
    got = subprocess.run([sys.executable, "-m", "tests.prerequisites"], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    assert got.returncode == 1
    assert "amtool is not on PATH (Debian package prometheus-alertmanager)" in got.stderr
    assert "apt-get install -y prometheus prometheus-alertmanager" in got.stderr
