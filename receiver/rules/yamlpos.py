"""YAML with line numbers, and pydantic errors turned into readable messages at the right line.

A rule file is composed once with ``yaml.SafeLoader`` into a node tree (which keeps marks) and then
constructed into plain data from that same tree, so any location in the data (a pydantic ``loc``
such as ``('rules', 2, 'matchers', 0)``) can be traced back to the 1-based line of its node.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import yaml

Loc = tuple[str | int, ...]
"""A location in a parsed file, as pydantic gives it: ``('rules', 2, 'matchers', 0)``."""


class YamlSyntaxError(ValueError):
    """Raised by ``parse_yaml`` for invalid YAML; ``line`` is 1-based (0 when unknown)."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(message)


class RuleLoader(yaml.SafeLoader):
    """``SafeLoader`` without YAML 1.1's base-60 numbers: ``16:00`` stays the string ``"16:00"``.

    Alertmanager's time intervals write times and ranges (``09:30``, ``1:5``) unquoted; YAML 1.1
    would read them as 570 and 65. Other implicit types are unchanged.
    """


RuleLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if not (tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in regexp.pattern)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:int", r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$""",
     list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"""
     r"""|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", list("-+0123456789.")),
):
    RuleLoader.add_implicit_resolver(_tag, re.compile(_pattern, re.X), _first)


def parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document with the safe loader; return ``(data, root node)``.

    An empty document gives ``(None, None)``. Raises ``YamlSyntaxError`` naming the line of the
    problem (several documents in one file are an error too).
    """
    loader = RuleLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        context = e.context or ""
        if e.context and e.context_mark and mark and e.context_mark.line != mark.line:
            context += f" (from line {e.context_mark.line + 1})"
        problem = ": ".join(p for p in (context, e.problem) if p) or "cannot parse"
        if (e.problem or "").startswith("but found another document"):
            problem = "a rule file holds one document, found a second one"
        raise YamlSyntaxError(mark.line + 1 if mark else 0, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise YamlSyntaxError(0, f"invalid YAML: {e}") from None
    finally:
        loader.dispose()
    return data, root


def line_of(node: yaml.Node | None) -> int:
    """The 1-based line where ``node`` starts (0 for ``None``)."""
    return node.start_mark.line + 1 if node is not None else 0


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        found = None
        for key, value in node.value:  # the last duplicate wins, as when constructing
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                found = (key, value)
        return found
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def locate(root: yaml.Node | None, loc: Sequence[str | int]) -> tuple[int, frozenset[int]]:
    """Follow ``loc`` from ``root`` as far as the tree allows; return ``(line, indices found)``.

    The line is that of the deepest node reached (for a mapping entry, its key). Parts that are
    not in the tree (pydantic's union tags, ``[key]``, a missing key) are skipped, so the line is
    that of the nearest enclosing node; the indices say which parts of ``loc`` were found.
    """
    if root is None:
        return 0, frozenset()
    node, line, found = root, line_of(root), set()
    for i, part in enumerate(loc):
        step = _child(node, part)
        if step is None:
            continue
        key, node = step
        line = line_of(key or node)
        found.add(i)
    return line, frozenset(found)


def duplicate_keys(root: yaml.Node | None) -> Iterator[tuple[Loc, str, int, int]]:
    """Every key that appears twice in one mapping: ``(path of the mapping, key, line, first line)``.

    YAML loaders keep the last value silently; rule files treat a repeated key as an error (a second
    playbook of the same name would otherwise replace the first without a word).
    """
    def walk(node: yaml.Node, path: Loc) -> Iterator[tuple[Loc, str, int, int]]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        yield path, key.value, line_of(key), seen[key.value]
                    else:
                        seen[key.value] = line_of(key)
                    yield from walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                yield from walk(item, (*path, i))

    if root is not None:
        yield from walk(root, ())


def format_path(parts: Sequence[str | int]) -> str:
    """Render a location as users write it: ``('steps', 0, 'url')`` → ``steps[0].url``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]' if out else part
    return out


def kind(value: Any) -> str:
    """The YAML word for the type of ``value`` (``mapping``, ``list``, ``string``, …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


_NAME_PATTERN = "^[A-Za-z0-9_.:-]+$"
_EXPECTED = {
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "an integer",
    "int_parsing": "an integer",
}


def describe(err: Any) -> str:
    """A readable message for one pydantic error dict (without its location).

    ``extra_forbidden`` → ``unknown key 'foo'``; ``missing`` → ``missing required key 'x'``;
    ``literal_error`` → ``must be one of P0, P1, P2, P3``; type errors → ``expected a list, got
    string``; ``value_error`` → the validator's own message.
    """
    typ, ctx, loc = err.get("type", ""), err.get("ctx") or {}, err.get("loc") or ()
    last = loc[-1] if loc else ""
    given = err.get("input")
    if typ == "extra_forbidden":
        return f"unknown key '{last}'"
    if typ == "missing":
        return f"missing required key '{last}'"
    if typ == "union_tag_not_found":
        return f"missing required key {ctx.get('discriminator', 'action')}"
    if typ == "union_tag_invalid":
        tags = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected_tags", ""))))
        return f"unknown action '{ctx.get('tag')}' (expected one of {tags})"
    if typ in ("literal_error", "enum"):
        return "must be one of " + ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
    if typ == "string_pattern_mismatch":
        if ctx.get("pattern") == _NAME_PATTERN:
            return f"invalid name '{given}': use only letters, digits, '_', '.', ':' and '-'"
        return f"'{given}' does not match {ctx.get('pattern')}"
    if typ == "string_too_short":
        return "must not be empty"
    if typ == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if typ == "too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must have at least {n} items"
    if typ in _EXPECTED:
        return f"expected {_EXPECTED[typ]}, got {kind(given)}"
    if typ in ("value_error", "assertion_error"):
        msg = str(err.get("msg", ""))
        return msg.split(", ", 1)[1] if msg.startswith(("Value error, ", "Assertion failed, ")) else msg
    return str(err.get("msg", "invalid"))
