"""README.md and docs/*.md cannot drift from the code: config keys, metrics, HTTP endpoints and
environment variables, both ways.

The code side is derived from the code itself: the settings keys from the pydantic ``Settings`` model,
the metrics from the registry of ``receiver.metrics.Metrics``, the endpoints from the aiohttp router of
the app built on the shipped ``runbookd.yml``, the environment variables from the ``${VAR}`` references
of the shipped config (and, for the forward direction, of every config in the repository and every
``os.environ`` read in Python). The docs side is what a reader sees:

- config keys: inline code ``a.b.c`` whose first part is a top-level settings key (and which is not
  an action name such as ``alpaca.cancel_all_orders``), and the keys of YAML examples whose top-level
  key is a settings key; a single-word key counts as named when it is inline code;
- metrics: inline code that starts with ``runbookd_`` and a metric name (``runbookd_x_total{label}``),
  and ``expr:`` lines of code blocks;
- endpoints: ``/path`` under one of the app's top-level path segments (``/api/…``, ``/-/ready``…), in
  prose or inline code; a short ``/resume`` right after a full path on the same line names its sibling
  (``POST /api/v1/automation/pause`` and ``/resume``, each inline code of its own); ``METHOD /path`` is
  checked with its method;
- environment variables: upper-case ``A_B`` words with the prefix of a variable the shipped config reads
  (``RUNBOOKD_``, ``SLACK_``…), outside code blocks, plus ``${VAR}`` inside them.

Each test's failure message lists exactly what is missing, and where (``file:line`` for a doc mention,
the code's name for a key or metric nobody documents).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from receiver.app import build_app, build_components
from receiver.metrics import Metrics
from receiver.rules.model import RuleFile
from receiver.rules.model import Step as StepUnion
from receiver.settings import _VAR, Settings, load_settings, parse_settings
from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHIPPED = ROOT / "runbookd.yml"
CODE = re.compile(r"`([^`\n]+)`")
METHOD_PATH = re.compile(r"\b(GET|HEAD|POST|PUT|PATCH|DELETE) +`?(/[^\s`),;]*)")
PATH = re.compile(r"(?<![\w.:/<>}-])(/[-\w{}<>.]*(?:/[-\w{}<>.]*)*)")
ENV = re.compile(r"(?<![\w$-])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b(?!\s*:)")
METRIC = re.compile(r"runbookd_[a-z0-9_]*[a-z0-9]")


@dataclass(frozen=True)
class Line:
    """One line of a doc: ``where`` (``docs/x.md:12``), its text, and the fence language if in a block."""

    where: str
    text: str
    fence: str | None


@cache
def doc_lines() -> tuple[Line, ...]:
    """Every line of README.md and docs/*.md, marked with the code block (its language) it is in."""
    out: list[Line] = []
    for path in DOCS:
        fence: str | None = None
        for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = text.strip()
            if stripped.startswith("```"):
                fence = (stripped[3:].strip() or "text") if fence is None else None
                continue
            out.append(Line(f"{path.relative_to(ROOT)}:{n}", text, fence))
    return tuple(out)


def prose() -> Iterator[Line]:
    """The lines outside code blocks."""
    return (ln for ln in doc_lines() if ln.fence is None)


def yaml_blocks() -> Iterator[tuple[str, Any]]:
    """``(where the block starts, parsed data)`` of every YAML code block that parses (one that does not,
    e.g. with ``...`` placeholders, names nothing)."""
    block: list[Line] = []
    for ln in [*doc_lines(), Line("", "", None)]:
        if ln.fence == "yaml" and (not block or _next(block[-1], ln)):
            block.append(ln)
            continue
        if block:
            try:
                yield block[0].where, yaml.safe_load("\n".join(b.text for b in block))
            except yaml.YAMLError:
                pass
        block = [ln] if ln.fence == "yaml" else []


def _next(a: Line, b: Line) -> bool:
    fa, na = a.where.rsplit(":", 1)
    fb, nb = b.where.rsplit(":", 1)
    return fa == fb and int(nb) == int(na) + 1


# --- the code side ---------------------------------------------------------------------------------


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _is_dict(annotation: Any) -> bool:
    return typing.get_origin(annotation) is dict or any(_is_dict(a) for a in typing.get_args(annotation))


@cache
def settings_keys() -> dict[str, str]:
    """Every key of runbookd.yml as a dotted path → ``Model.field`` that defines it.

    Paths of mappings with free keys (``vars``, ``pagerduty.routing_keys``) end in ``.*``; keys the
    loader sets itself (``parse_settings`` fills ``base_dir``) are not config keys.
    """
    internal = set(parse_settings({}, base_dir="/").model_fields_set)
    keys: dict[str, str] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            key = f"{prefix}{info.alias or name}"
            if not prefix and name in internal:
                continue
            keys[key] = f"{model.__name__}.{name}"
            for sub in _models(info.annotation):
                walk(sub, key + ".")
            if _is_dict(info.annotation) and not _models(info.annotation):
                keys[key + ".*"] = keys[key]

    walk(Settings, "")
    return keys


def is_settings_key(path: str) -> bool:
    """Whether ``path`` (``a.b.c``) is a key of runbookd.yml, free mapping keys included."""
    keys = settings_keys()
    parts = path.split(".")
    return path in keys or any(".".join(parts[:i]) + ".*" in keys for i in range(1, len(parts)))


@cache
def action_names() -> frozenset[str]:
    """The ``action`` names of the step models (``alpaca.cancel_all_orders``, …)."""
    union = typing.get_args(StepUnion)[0]
    return frozenset(typing.get_args(m.model_fields["action"].annotation)[0] for m in typing.get_args(union))


@cache
def metric_names() -> dict[str, set[str]]:
    """Every metric family of ``Metrics`` → the sample names it exposes (``_total``, ``_bucket``…)."""
    registry = CollectorRegistry()
    Metrics(registry)
    suffixes = {"counter": ("_total", "_created"), "histogram": ("", "_bucket", "_count", "_sum", "_created"),
                "summary": ("", "_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",)}
    return {f.name: {f.name + s for s in suffixes.get(f.type, ("",))} for f in registry.collect()}


@cache
def routes() -> dict[str, set[str]]:
    """Path (``/api/v1/incidents/{id}``) → methods of every route of the app on the shipped config."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(SHIPPED, env={"RUNBOOKD_STORAGE": f"sqlite:///{tmp}/docs.db"})
        app = build_app(build_components(settings), run_dispatcher=False)
        out: dict[str, set[str]] = {}
        for route in app.router.routes():
            if route.resource is not None:
                out.setdefault(route.resource.canonical, set()).add(route.method)
    return out


def _norm(path: str) -> str:
    """A path with each ``{x}`` / ``<x>`` segment as ``{}`` and no query or trailing punctuation."""
    path = path.split("?")[0].rstrip(".")
    return "/".join("{}" if re.fullmatch(r"[{<][^/]*[}>]", seg) else seg for seg in path.split("/"))


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def config_env(path: Path) -> set[str]:
    """The variables a YAML config reads: ``${VAR}`` in its values, as ``expand_env`` sees them
    (comments do not count)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return set()
    return {m.group(1) for text in _strings(data) for m in _VAR.finditer(text)}


def shipped_env() -> set[str]:
    """The environment variables the shipped runbookd.yml reads."""
    return config_env(SHIPPED)


@cache
def env_read_anywhere() -> set[str]:
    """Variables read by any config in the repository or by Python code (``environ.get("X"`` …)."""
    names = shipped_env()
    for cfg in [*ROOT.glob("examples/*/runbookd.yml"), *ROOT.glob("deploy/**/*.yml"),
                *ROOT.glob("deploy/**/*.yaml")]:
        names |= config_env(cfg)
    read = re.compile(r"""(?:environ\.get|environ\[|getenv)\(?\s*["']([A-Z][A-Z0-9_]*)["']""")
    for py in [*ROOT.glob("receiver/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py")]:
        names |= set(read.findall(py.read_text(encoding="utf-8")))
    return names


@cache
def code_strings() -> frozenset[str]:
    """Every string constant of receiver/ (timeline kinds such as ``notify.failed``, Slack metadata event
    types such as ``runbookd_page``, SQL names such as ``runbookd_append_only``): names the docs may use
    that are neither config keys nor metrics."""
    import ast

    out: set[str] = set()
    for py in (ROOT / "receiver").rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value)
                out.update(METRIC.findall(node.value))  # names inside SQL (`runbookd_append_only()`)
    return frozenset(out)


# --- the docs side ---------------------------------------------------------------------------------


def doc_config_keys() -> list[tuple[str, str]]:
    """``(where, dotted key)`` of every config key the docs name."""
    top = {k for k in settings_keys() if "." not in k}
    rule_top = set(RuleFile.model_fields)
    found: list[tuple[str, str]] = []
    for ln in prose():
        for span in CODE.findall(ln.text):
            span = span.split(":")[0].strip()  # `alpaca.paper: true` names alpaca.paper
            if (re.fullmatch(r"[a-z_]+(?:\.[a-z_0-9]+)+", span) and span.split(".")[0] in top
                    and span not in action_names()
                    and (is_settings_key(span) or span not in code_strings())):
                found.append((ln.where, span))
    for where, data in yaml_blocks():
        if isinstance(data, dict) and not set(data) & rule_top:
            for key, value in data.items():
                if key in top:
                    found += [(f"{where} (YAML example)", p) for p in _flatten(value, str(key))]
    return found


def _flatten(value: Any, prefix: str) -> Iterator[str]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}")
    elif isinstance(value, list):  # a list of mappings (`access.people`): its items' keys under the list's
        for item in value:
            if isinstance(item, dict):
                for k, v in item.items():
                    yield from _flatten(v, f"{prefix}.{k}")


def doc_metrics() -> list[tuple[str, str]]:
    """``(where, name)`` of every metric name the docs use."""
    found: list[tuple[str, str]] = []
    for ln in doc_lines():
        if ln.fence is None:
            texts = [s for s in CODE.findall(ln.text) if s.startswith("runbookd_")]
        else:
            texts = [ln.text] if "expr:" in ln.text else []
        for text in texts:
            found += [(ln.where, m) for m in METRIC.findall(text)
                      if m not in code_strings() or any(m in v for v in metric_names().values())]
    return found


def doc_endpoints() -> list[tuple[str, str | None, str]]:
    """``(where, method or None, normalised path)`` of every runbookd endpoint the docs name."""
    roots = {p.split("/")[1] for p in routes()}
    found: list[tuple[str, str | None, str]] = []
    for ln in prose():
        methods = {m.start(2): m.group(1) for m in METHOD_PATH.finditer(ln.text)}
        whole = {m.group(1) for m in CODE.finditer(ln.text)}
        last: str | None = None
        for m in PATH.finditer(ln.text):
            if ln.text[m.end(1):m.end(1) + 1] in ("*", "…"):  # a family of paths (`/api/v1/*`), not one route
                continue
            path = _norm(m.group(1))
            segments = path.split("/")
            if len(segments) > 1 and segments[1] in roots:
                found.append((ln.where, methods.get(m.start(1)), path))
                last = path
            elif last is not None and m.group(1) in whole and len(segments) == 2 and segments[1] != "{}":
                found.append((ln.where, methods.get(m.start(1)), last.rsplit("/", 1)[0] + path))
    return found


def doc_env() -> list[tuple[str, str]]:
    """``(where, NAME)`` of every environment variable of the shipped families the docs name."""
    prefixes = {name.split("_")[0] for name in shipped_env()}
    found: list[tuple[str, str]] = []
    for ln in doc_lines():
        names = ENV.findall(ln.text) if ln.fence is None else [m.group(1) for m in _VAR.finditer(ln.text)]
        found += [(ln.where, n) for n in names if n.split("_")[0] in prefixes]
    return found


def _report(title: str, items: list[str]) -> str:
    return f"{title} ({len(items)}):\n" + "\n".join(f"  {i}" for i in items)


# --- docs → code -----------------------------------------------------------------------------------


def test_every_config_key_the_docs_name_exists() -> None:
    """Each config key named in README.md or docs/*.md is a key of ``receiver.settings.Settings``."""
    bad = [f"{where}: `{key}`" for where, key in doc_config_keys() if not is_settings_key(key)]
    assert not bad, _report("config keys named in the docs that receiver/settings.py does not have", bad)


def test_every_metric_the_docs_name_is_registered() -> None:
    """Each ``runbookd_*`` metric named in the docs is exposed by ``receiver.metrics.Metrics``."""
    exposed = set().union(*metric_names().values())
    bad = [f"{where}: {name}" for where, name in doc_metrics() if name not in exposed]
    assert not bad, _report("metrics named in the docs that receiver/metrics.py does not register", bad)


def test_every_endpoint_the_docs_name_is_routed() -> None:
    """Each endpoint named in the docs is a route of the app, with the method the docs give."""
    by_norm = {_norm(p): methods for p, methods in routes().items()}
    bad = []
    for where, method, path in doc_endpoints():
        if path not in by_norm:
            bad.append(f"{where}: {method or ''} {path} (no such route)".replace(":  ", ": "))
        elif method is not None and method not in by_norm[path]:
            bad.append(f"{where}: {method} {path} (the route takes {', '.join(sorted(by_norm[path]))})")
    assert not bad, _report("endpoints named in the docs that the app (receiver/app.py) does not serve", bad)


def test_every_environment_variable_the_docs_name_is_read() -> None:
    """Each environment variable the docs name is read by a config of the repository or by the code."""
    known = env_read_anywhere()
    bad = [f"{where}: {name}" for where, name in doc_env() if name not in known]
    assert not bad, _report("environment variables named in the docs that nothing reads", bad)


# --- code → docs -----------------------------------------------------------------------------------


def _named_together(key: str) -> bool:
    """Whether a prose line names an ancestor of ``key`` as inline code and the key's last part too."""
    parts = key.split(".")
    leaf = parts[-1]
    for ln in prose():
        spans = {s.strip() for s in CODE.findall(ln.text)}
        for i in range(1, len(parts)):
            if ".".join(parts[:i]) in spans and re.search(rf"\b{re.escape(leaf)}\b", ln.text):
                return True
    return False


def test_every_settings_key_is_documented() -> None:
    """Each key of runbookd.yml is named in README.md or docs/*.md: as inline code, in a YAML example,
    or next to its parent (``heartbeat`` … ``timeout``)."""
    named = {key for _, key in doc_config_keys()}
    spans = {s.strip() for ln in prose() for s in CODE.findall(ln.text)}
    bad = []
    for key, where in settings_keys().items():
        key = key.removesuffix(".*")
        if key in named or key in spans or _named_together(key):
            continue
        if any(k.startswith(key + ".") for k in settings_keys()):
            continue  # a section: its leaves are checked one by one
        bad.append(f"{key} ({where})")
    assert not bad, _report("runbookd.yml keys (receiver/settings.py) that README.md and docs/*.md never name",
                            sorted(set(bad)))


def test_every_registered_metric_is_documented() -> None:
    """Each metric family of ``receiver.metrics.Metrics`` is named in the docs (any of its sample names)."""
    named = {name for _, name in doc_metrics()}
    bad = [f"{family} (as {' or '.join(sorted(samples))})" for family, samples in sorted(metric_names().items())
           if not samples & named]
    assert not bad, _report("metrics registered in receiver/metrics.py that README.md and docs/*.md never name",
                            bad)


def test_every_route_is_documented() -> None:
    """Each route of the app is named in the docs (any method)."""
    named = {path for _, _, path in doc_endpoints()}
    bad = [f"{' '.join(sorted(m - {'HEAD'}))} {p}" for p, m in sorted(routes().items()) if _norm(p) not in named]
    assert not bad, _report("routes of the app (receiver/app.py) that README.md and docs/*.md never name", bad)


def test_every_environment_variable_of_the_shipped_config_is_documented() -> None:
    """Each ``${VAR}`` the shipped runbookd.yml reads is named in README.md or docs/*.md."""
    named = {name for _, name in doc_env()}
    bad = sorted(shipped_env() - named)
    assert not bad, _report("environment variables runbookd.yml reads that README.md and docs/*.md never name",
                            bad)


def test_the_derivations_see_the_code() -> None:
    """The code side is not empty or stale: it finds the keys, metrics, routes and variables DESIGN.md
    promises (so a broken derivation cannot make every other test here pass vacuously)."""
    assert {"listen", "webhook.max_body_bytes", "pagerduty.routing_keys.*", "automation.destructive_budget.max"} \
        <= set(settings_keys())
    assert "base_dir" not in settings_keys()
    assert {"runbookd_alerts_received_total", "runbookd_webhook_request_duration_seconds_bucket"} \
        <= set().union(*metric_names().values())
    assert {"/webhook/alertmanager", "/-/ready", "/api/v1/incidents/{id}"} <= set(routes())
    assert {"RUNBOOKD_STORAGE", "SLACK_BOT_TOKEN"} <= shipped_env()
    assert any(key == "webhook.max_body_bytes" for _, key in doc_config_keys())
    assert any(path == "/api/v1/incidents/{}/resolve" for _, _, path in doc_endpoints())
