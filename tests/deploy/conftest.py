"""Helpers of the deployment tests: the repository's deploy/ files, the Dockerfile's instructions and the
Prometheus tools (with the suite's skip policy: a missing tool skips, and fails on CI)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import prerequisites
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"


def load_yaml(path: Path) -> Any:
    """One YAML document (merge keys ``<<`` resolved, as Compose does)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def tool(name: str, package: str) -> str:
    """Path of a Prometheus tool; skipped with the install command when missing (a failure on CI)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed ({prerequisites.APT_TOOLS}; Debian package {package})"
        if prerequisites.ci():
            pytest.fail(f"{reason}; CI must install it")
        pytest.skip(reason)
    return path


def run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output (never raises for a non-zero exit)."""
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: ``keyword`` upper-cased, ``args`` as written (continuations joined)."""

    keyword: str
    args: str

    def words(self) -> list[str]:
        """The arguments as a JSON array (exec form) or split like a shell would (shell form)."""
        text = self.args.strip()
        if text.startswith("["):
            return list(yaml.safe_load(text))
        return shlex.split(text)


def dockerfile_stages(path: Path = ROOT / "Dockerfile") -> list[list[Instruction]]:
    """The instructions of each build stage (a stage starts at ``FROM``), comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(ln for ln in path.read_text(encoding="utf-8").splitlines()
                                          if not ln.lstrip().startswith("#")))
    stages: list[list[Instruction]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(keyword.upper(), args))
    return stages


def image_env(stage: list[Instruction]) -> dict[str, str]:
    """The ``ENV`` values a stage sets (``KEY=value`` forms)."""
    env: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "ENV":
            for word in ins.words():
                key, _, value = word.partition("=")
                env[key] = value
    return env
