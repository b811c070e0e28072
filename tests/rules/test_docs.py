"""docs/rules.md cannot drift from the models: every key of every model reachable from a rule file or a
unit-test file is in the table of its model's section (and no other key is), and the YAML examples are
one valid rule set whose own test file passes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from receiver.rules import check_rule_files
from receiver.rules.model import RuleFile
from receiver.rules.unittest_model import RuleTestFile
from receiver.simulate.unittests import run_test_file
from tests.conftest import ROOT

DOC = ROOT / "docs" / "rules.md"
MARKER = re.compile(r"<!-- model: (\w+) -->")
ROW = re.compile(r"^\| `([^`]+)` \|", re.M)
BLOCK = re.compile(r"^```yaml( test)?\n(.*?)^```", re.M | re.S)


def reachable(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root`` and every model its fields can hold, with the bases that declare fields (``_Step``)."""
    found: list[type[BaseModel]] = [root]

    def walk(t: object) -> None:
        """Add the models inside the type ``t``."""
        if isinstance(t, type) and issubclass(t, BaseModel) and t not in found:
            found.append(t)
        for arg in typing.get_args(t):
            walk(arg)

    i = 0
    while i < len(found):
        model = found[i]
        for base in model.__mro__[1:]:
            if isinstance(base, type) and issubclass(base, BaseModel) and base is not BaseModel:
                walk(base)
        for info in model.model_fields.values():
            walk(info.annotation)
        i += 1
    return found


def declared(model: type[BaseModel]) -> set[str]:
    """The keys (aliases) of the fields ``model`` itself declares (inherited ones belong to the base)."""
    own = model.__dict__.get("__annotations__", {})
    return {info.alias or name for name, info in model.model_fields.items() if name in own}


def sections() -> dict[str, str]:
    """Model name → the doc text from its marker to the next marker."""
    text = DOC.read_text()
    marks = list(MARKER.finditer(text))
    return {m.group(1): text[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(text)]
            for i, m in enumerate(marks)}


MODELS = [m for m in reachable(RuleFile) + reachable(RuleTestFile) if declared(m)]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_key_is_documented_under_its_model(model: type[BaseModel]) -> None:
    """The model's section has one table row per key it declares, and none for keys it lacks."""
    found = sections()
    assert model.__name__ in found, f"docs/rules.md has no '<!-- model: {model.__name__} -->' section"
    rows = ROW.findall(found[model.__name__])
    assert sorted(rows) == sorted(declared(model)), f"keys of {model.__name__} in docs/rules.md"


def test_no_section_documents_a_model_that_does_not_exist() -> None:
    """Every marker names a model a rule file or test file can hold."""
    assert set(sections()) <= {m.__name__ for m in MODELS}


def blocks() -> list[tuple[int, bool, str]]:
    """The YAML examples of docs/rules.md: (line, is a test file, text)."""
    text = DOC.read_text()
    return [(text[: m.start()].count("\n") + 2, bool(m.group(1)), m.group(2)) for m in BLOCK.finditer(text)]


def test_the_examples_are_one_valid_rule_set_and_their_test_passes(tmp_path: Path) -> None:
    """Every ```yaml block loads (together, as rule files); the ```yaml test block passes against them."""
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    tests = 0
    for line, is_test, text in blocks():
        if is_test:
            (rules / "tests" / f"doc_{line}_test.yml").write_text(text)
            tests += 1
        else:
            (rules / f"doc_{line:04d}.yml").write_text(text)
    report = check_rule_files(["rules/*.yml"], str(tmp_path), routing_keys=["default"])
    assert [str(e) for e in report.errors] == []
    assert report.ruleset is not None and len(report.ruleset.rules) >= 4
    assert tests >= 1
    for path in sorted((rules / "tests").glob("*.yml")):
        result = run_test_file(str(path))
        assert result.ok, "\n".join(result.lines())


def test_every_example_is_a_rule_file_on_its_own() -> None:
    """Each example block is a valid rule file by itself as to shape (references may cross blocks)."""
    for line, is_test, text in blocks():
        if not is_test:
            try:
                RuleFile.model_validate(yaml.safe_load(text) or {})
            except ValidationError as e:
                pytest.fail(f"docs/rules.md:{line}: {e}")


# -- docs/tutorial.md: its files are written and its commands run, in order --------------------------------

TUTORIAL = ROOT / "docs" / "tutorial.md"
STEP = re.compile(r"^<!-- file: (\S+) -->\n```yaml\n(.*?)^```|^```console\n(.*?)^```", re.M | re.S)


def _matches(expected: list[str], got: list[str]) -> bool:
    """Whether ``got`` reads as ``expected``: a line ``...`` stands for any lines, ``...`` in a line for
    any text."""
    if not expected:
        return not got
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(_matches(rest, got[i:]) for i in range(len(got) + 1))
    pattern = ".*".join(re.escape(part) for part in head.split("..."))
    return bool(got) and re.fullmatch(pattern, got[0]) is not None and _matches(rest, got[1:])


def _commands(block: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        else:
            out[-1][1].append(line)
    return out


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    """Each file of the tutorial is written and each command run in order; the output is as shown."""
    (tmp_path / "alert.json").write_bytes((ROOT / "tests/testdata/trading-system-down-firing.json").read_bytes())
    ran = 0
    for m in STEP.finditer(TUTORIAL.read_text()):
        if m.group(1):
            path = tmp_path / m.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(m.group(2))
            continue
        for command, expected in _commands(m.group(3)):
            words = shlex.split(command)
            env = {"PATH": "/usr/bin:/bin"}
            while "=" in words[0]:
                name, _, value = words.pop(0).partition("=")
                env[name] = value
            assert words[0] == "runbookd", command
            r = subprocess.run([sys.executable, "-m", "receiver", *words[1:]], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=60)
            got = (r.stderr + r.stdout).splitlines()
            assert _matches(expected, got), f"$ {command}\n" + "\n".join(got)
            ran += 1
    assert ran >= 6
