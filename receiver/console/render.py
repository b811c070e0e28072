"""The console's Jinja2 environment (autoescape on) and the filters its templates use.

Markdown (the post-mortem draft) is rendered with markdown-it-py in its ``commonmark`` preset with
raw HTML disabled, so text from alerts cannot inject markup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from receiver.durations import format_duration

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def when(ts: float | None) -> str:
    """Epoch seconds as ``2026-12-04 19:48:59 UTC`` (``""`` for ``None``)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(ts: float | None) -> str:
    """Epoch seconds as RFC 3339 (for ``<time datetime>``)."""
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def markdown(text: str) -> Markup:
    """Markdown as safe HTML: raw HTML in ``text`` is escaped, never passed through."""
    return Markup(_MD.render(text))  # noqa: S704 -- markdown-it escapes: html is disabled


def environment() -> jinja2.Environment:
    """The console's template environment: autoescaped, undefined variables are errors."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["iso"] = iso
    env.filters["duration"] = lambda s: format_duration(max(0.0, float(s)))
    env.filters["markdown"] = markdown
    return env


def render(env: jinja2.Environment, name: str, **ctx: Any) -> str:
    """Render template ``name`` with ``ctx``."""
    return env.get_template(name).render(**ctx)
