"""The JSON Schemas of rule files and unit-test files: generated from the models, committed, used by editors.

The committed files must equal what ``python -m receiver.rules.schema`` generates (so they cannot drift
from the models); the rule-file schema accepts every shipped and good rule file and rejects every bad
one whose mistake is one of shape (the others are ``runbookd check``'s job).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from receiver.durations import parse_duration
from receiver.rules.schema import DURATION_PATTERN, main, render
from tests.conftest import ROOT

BAD = ROOT / "tests" / "rules" / "bad"
SCHEMA_ERRORS = {
    "bad_duration.yml", "bad_playbook_name.yml", "bad_policy_severity.yml", "bad_rule_name.yml",
    "bad_severity.yml", "empty_channel.yml", "empty_playbook.yml", "missing_name.yml", "missing_severity.yml",
    "missing_step_key.yml", "receiver_no_channel.yml", "receiver_two_channels.yml",
    "top_level_list.yml", "unknown_action.yml", "unknown_key.yml", "wrong_type.yml",
}
"""Bad files whose mistake is one of shape: the schema (and so an editor) rejects them."""
YAML_ERRORS = {"yaml_syntax.yml", "multiple_documents.yml", "duplicate_key.yml"}
"""Bad files that are not valid YAML for the loader (a duplicate key is legal YAML that editors flag)."""
SEMANTIC_ERRORS = {
    "bad_group_by.yml", "bad_matcher.yml", "bad_regex.yml", "bad_regex_go.yml", "bad_template.yml",
    "bad_template_json.yml", "bad_time_interval_local.yml",
    "duplicate_playbook.yml", "duplicate_policy.yml", "duplicate_receiver.yml", "duplicate_rule.yml",
    "duplicate_step.yml", "empty_matcher.yml",
    "reserved_rule_name.yml", "unknown_filter.yml", "unknown_mute_interval.yml", "unknown_playbook.yml",
    "unknown_receiver.yml", "unknown_routing_key.yml",
}
"""Bad files that are well-shaped: only ``runbookd check`` (references, matchers, templates) finds them."""


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator of the committed schema ``docs/<name>`` (itself checked as a schema)."""
    schema = json.loads((ROOT / "docs" / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def as_json(path: Path) -> Any:
    """The file as an editor's YAML server sees it: JSON data (timestamps are strings)."""
    data = yaml.safe_load(path.read_text())
    return json.loads(json.dumps({} if data is None else data, default=lambda v: v.isoformat()))


@pytest.mark.parametrize(("kind", "name"), [("rules", "rules.schema.json"), ("tests", "rules-test.schema.json")])
def test_committed_schema_is_generated_from_the_models(kind: str, name: str) -> None:
    """docs/<name> equals `python -m receiver.rules.schema <kind>`: regenerate it after a model change."""
    committed = (ROOT / "docs" / name).read_text()
    assert committed == render(kind), f"docs/{name} is stale: python -m receiver.rules.schema {kind} > docs/{name}"


def test_the_module_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """python -m receiver.rules.schema prints the rule-file schema; an unknown kind is a usage error."""
    assert main([]) == 0
    assert capsys.readouterr().out == render("rules")
    assert main(["nope"]) == 2


def shipped_rule_files() -> list[Path]:
    """Rule files the project ships or tests with as valid."""
    return sorted([*ROOT.glob("rules/*.yml"), *ROOT.glob("examples/*/rules/*.yml"),
                   *ROOT.glob("tests/rules/good/*.yml"), *ROOT.glob("tests/testdata/rules/*.yml")])


@pytest.mark.parametrize("path", shipped_rule_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_rule_file_is_valid(path: Path) -> None:
    """Shipped, example and good rule files validate against the schema."""
    errors = [e.message for e in validator("rules.schema.json").iter_errors(as_json(path))]
    assert errors == []


def test_shipped_rule_files_point_editors_at_the_schema() -> None:
    """Each shipped rule file's first line tells the YAML language server where the schema is."""
    for path in [*ROOT.glob("rules/*.yml"), *ROOT.glob("examples/*/rules/*.yml")]:
        rel = Path("../" * (len(path.relative_to(ROOT).parts) - 1)) / "docs" / "rules.schema.json"
        assert path.read_text().splitlines()[0] == f"# yaml-language-server: $schema={rel}", path


@pytest.mark.parametrize("name", sorted(SCHEMA_ERRORS))
def test_the_schema_rejects_bad_shapes(name: str) -> None:
    """Every bad file whose mistake is one of shape fails the schema."""
    assert list(validator("rules.schema.json").iter_errors(as_json(BAD / name))), name


@pytest.mark.parametrize("name", sorted(SEMANTIC_ERRORS))
def test_semantic_mistakes_pass_the_schema(name: str) -> None:
    """The schema stays to shape: references and syntax inside strings are left to runbookd check."""
    assert list(validator("rules.schema.json").iter_errors(as_json(BAD / name))) == []


def test_every_bad_file_is_classified() -> None:
    """A new bad file must be put in one of the three lists above."""
    on_disk = {p.name for p in BAD.glob("*.yml")}
    assert on_disk == SCHEMA_ERRORS | YAML_ERRORS | SEMANTIC_ERRORS
    assert not SCHEMA_ERRORS & SEMANTIC_ERRORS


def test_test_files_are_valid_against_their_schema() -> None:
    """The shipped and example rules' test files and tests/rules/unit's validate against the test-file schema."""
    v = validator("rules-test.schema.json")
    bad = ROOT / "tests/rules/unit/bad_format_test.yml"
    files = [*ROOT.glob("rules/tests/*.yml"), *ROOT.glob("examples/*/rules/tests/*.yml"),
             *ROOT.glob("tests/rules/unit/*_test.yml")]
    assert len(files) >= 4
    for path in files:
        if path != bad:
            assert (path.name, [e.message for e in v.iter_errors(as_json(path))]) == (path.name, [])
    assert list(v.iter_errors(as_json(bad)))


@pytest.mark.parametrize(("text", "ok"), [
    ("0", True), ("30s", True), ("5m", True), ("1h30m", True), ("1d", True), ("250ms", True), ("1w2d3h", True),
    ("", False), ("5", False), ("5x", False), ("1m1h", False), ("-5m", False), ("1.5m", False), ("5 m", False),
])
def test_the_duration_pattern_agrees_with_the_parser(text: str, ok: bool) -> None:
    """The schema's duration pattern accepts exactly the strings parse_duration accepts."""
    try:
        parse_duration(text)
        parsed = True
    except ValueError:
        parsed = False
    assert parsed is ok
    assert bool(re.fullmatch(DURATION_PATTERN, text)) is ok
