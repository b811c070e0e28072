"""JSON Schemas of rule files and rule unit-test files, generated from their pydantic models.

The committed copies (``docs/rules.schema.json``, ``docs/rules-test.schema.json``) are what editors
use: the shipped rule files start with ``# yaml-language-server: $schema=../docs/rules.schema.json``,
so VS Code's YAML extension completes and validates keys. Regenerate them after changing a model::

    python -m receiver.rules.schema rules > docs/rules.schema.json
    python -m receiver.rules.schema tests > docs/rules-test.schema.json

``tests/rules/test_schema.py`` fails while a committed copy differs from what this module generates.
The schema checks the shape of a file only; references between files, matchers, regexes and
templates are ``runbookd check``'s job.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from receiver.durations import parse_duration
from receiver.rules.model import RuleFile
from receiver.rules.unittest_model import RuleTestFile

DRAFT = "https://json-schema.org/draft/2020-12/schema"
DURATION_PATTERN = r"^(0|(?=[0-9])([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"
"""A Prometheus duration as ``receiver.durations.parse_duration`` accepts it (``30s``, ``1h30m``, ``0``)."""
DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number", "minimum": 0}],
    "description": "A Prometheus duration (30s, 5m, 1h30m) or a number of seconds.",
}
SCHEMAS: dict[str, tuple[type[BaseModel], str, str]] = {
    "rules": (RuleFile, "runbookd rule file",
              "Rules, playbooks, receivers and escalation policies of runbookd (rules/*.yml). "
              "Reference: docs/rules.md."),
    "tests": (RuleTestFile, "runbookd rule unit-test file",
              "Cases for `runbookd test`: alerts in, expected rule, severity, incident, steps and "
              "notifications out. Reference: docs/rules.md, \"Unit tests\"."),
}


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, with Prometheus durations shown as what the YAML holds (``5m``)."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        """A duration accepts a duration string or seconds. Another value parsed before validation
        (``BeforeValidator``) keeps the input type it declares (``json_schema_input_type``), or else
        also accepts a string, which is what such parsers read from YAML (``monday:friday``)."""
        if schema["function"].get("function") is parse_duration:
            return dict(DURATION_SCHEMA)
        inner = super().function_before_schema(schema)
        if "json_schema_input_schema" in schema or inner.get("type") == "string":
            return inner
        return {"anyOf": [inner, {"type": "string"}]}


def _tidy(node: Any) -> Any:
    """Close maps keyed by a name pattern (a key that does not match is an error, as in the loader) and
    turn reStructuredText ``code`` into Markdown `code` for editors' hovers."""
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: (re.sub(r"``([^`]+)``", r"`\1`", v) if k == "description" and isinstance(v, str) else _tidy(v))
           for k, v in node.items()}
    if "patternProperties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def generate(kind: str = "rules") -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``kind``: ``rules`` (a rule file) or ``tests`` (a unit-test file)."""
    model, title, description = SCHEMAS[kind]
    schema = _tidy(model.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator))
    return {"$schema": DRAFT, **schema, "title": title, "description": description}


def render(kind: str = "rules") -> str:
    """``generate(kind)`` as the committed file holds it: indented JSON and a final newline."""
    return json.dumps(generate(kind), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m receiver.rules.schema [rules|tests]``: print a schema to stdout."""
    args = list(sys.argv[1:] if argv is None else argv) or ["rules"]
    if len(args) != 1 or args[0] not in SCHEMAS:
        print(f"usage: python -m receiver.rules.schema [{'|'.join(SCHEMAS)}]", file=sys.stderr)
        return 2
    sys.stdout.write(render(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
