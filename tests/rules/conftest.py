"""Fixtures of the rules tests: the folder of good/bad rule files and a writer of rule files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

WriteRules = Callable[[str, str], Path]


@pytest.fixture
def rules_dir() -> str:
    """The folder holding ``good/`` and ``bad/`` rule files (the base dir of their patterns)."""
    return str(HERE)


@pytest.fixture
def write_rules(tmp_path: Path) -> WriteRules:
    """Write a dedented rule file ``name`` under ``tmp_path`` and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write
