"""``runbookd test FILE…`` as CI runs it: output like ``promtool test rules`` and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

UNIT = "tests/rules/unit"


def runbookd_test(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``runbookd test`` as a process with an empty environment."""
    return subprocess.run([sys.executable, "-m", "receiver", "test", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_the_shipped_rules_pass_their_tests_from_any_directory(tmp_path: Path) -> None:
    """The shipped test file passes, with rule_files resolved against the test file, not the cwd."""
    r = runbookd_test(str(ROOT / "rules" / "tests" / "shipped_test.yml"), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1].startswith("  SUCCESS: ")


def test_a_failing_case_exits_1_showing_expected_and_got() -> None:
    """Any failing case makes the run fail; each failure shows expected versus got."""
    r = runbookd_test(f"{UNIT}/passing_test.yml", f"{UNIT}/failing_test.yml")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[:2] == [f"Unit Testing: {UNIT}/passing_test.yml", "  SUCCESS: 8 test(s) passed"]
    assert lines[2] == f"Unit Testing: {UNIT}/failing_test.yml"
    assert (f"  FAILED: test 'wrong severity and rule' ({UNIT}/failing_test.yml:5): severity: expected P1, "
            "got P0") in lines
    assert lines[-1] == "  8 of 8 test(s) failed"


def test_only_passing_files_exit_0() -> None:
    """Every file passing is exit 0."""
    r = runbookd_test(f"{UNIT}/passing_test.yml", "rules/tests/shipped_test.yml")
    assert r.returncode == 0, r.stdout
    assert r.stdout.count("SUCCESS") == 2


def test_run_filters_cases() -> None:
    """--run REGEX runs the matching cases only: here a failing file's one case."""
    r = runbookd_test("--run", "^an incident where none", f"{UNIT}/failing_test.yml")
    assert r.returncode == 1
    assert r.stdout.splitlines()[-1] == "  1 of 1 test(s) failed"
    r = runbookd_test("--run", "continue", f"{UNIT}/passing_test.yml")
    assert (r.returncode, r.stdout.splitlines()[-1]) == (0, "  SUCCESS: 1 test(s) passed")


def test_a_bad_test_file_exits_1_with_file_and_line() -> None:
    """A test file with mistakes of its own fails naming file:line."""
    r = runbookd_test(f"{UNIT}/bad_format_test.yml")
    assert r.returncode == 1
    assert f"  FAILED: {UNIT}/bad_format_test.yml:12: tests[1].expect: unknown key 'severty'" in r.stdout


def test_usage_errors_exit_2() -> None:
    """No file, or a bad --run regex, is a usage error."""
    assert runbookd_test().returncode == 2
    r = runbookd_test("--run", "(", f"{UNIT}/passing_test.yml")
    assert r.returncode == 2 and "--run" in r.stderr
