"""Message templates: Jinja2 in a sandbox, the operator's folder first, the shipped defaults second.

Templates (``receiver/templates/*.j2``, overridable one by one from the folder named by the config key
``templates_dir``):

==================== ============================================ ===========================
name                 what                                         context built by
==================== ============================================ ===========================
``alert.txt.j2``     initial alert (seed 004 "INCIDENT ALERT")    ``message_context``
``update.txt.j2``    status update / acknowledgement (seed 004)   ``message_context``
``resolved.txt.j2``  resolution notice (seed 004)                 ``message_context``
``report.txt.j2``    INCIDENT REPORT (seed 003)                   ``incident_context``
``postmortem.md.j2`` post-mortem draft, Markdown (seeds 000/004)  ``incident_context``
``digest.txt.j2``    daily digest of several incidents            ``digest_context``
``deadman.txt.j2``   the alerting pipeline is broken              ``deadman_context``
==================== ============================================ ===========================

The contexts are built in ``receiver.escalation.context`` (re-exported here). Alert labels and
annotations are *data*: they are passed in as variables and never compiled, so a label ``{{ 7*7 }}``
renders as ``{{ 7*7 }}``. Undefined names (and attributes of them) render as ``""``. Templates run in
Jinja2's ``SandboxedEnvironment`` without autoescaping (text and Markdown); extra filters: ``utc``
(epoch seconds → ``2026-01-05 14:30:00 UTC``), ``duration`` (seconds → ``12m 5s``), ``cell`` (a
Markdown table cell: ``|`` escaped, newlines flattened) and ``code`` (a Markdown inline code span).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import structlog
from jinja2 import BaseLoader, ChainableUndefined, ChoiceLoader, FileSystemLoader, PackageLoader, TemplateError
from jinja2 import TemplateSyntaxError as _SyntaxError
from jinja2.sandbox import SandboxedEnvironment

from receiver.clock import format_utc as format_time
from receiver.durations import humanize_duration as format_duration
from receiver.escalation.context import (
    deadman_context,
    digest_context,
    incident_context,
    message_context,
    sample_contexts,
)
from receiver.notify.base import Message

__all__ = [
    "TEMPLATE_NAMES",
    "Templates",
    "deadman_context",
    "digest_context",
    "format_duration",
    "format_time",
    "incident_context",
    "message_context",
]

#: Every template runbookd renders; each ships a default in ``receiver/templates/``.
TEMPLATE_NAMES: tuple[str, ...] = (
    "alert.txt.j2",
    "update.txt.j2",
    "resolved.txt.j2",
    "report.txt.j2",
    "postmortem.md.j2",
    "digest.txt.j2",
    "deadman.txt.j2",
)
log = structlog.get_logger("runbookd.templates")


def _cell(value: Any) -> str:
    """A Markdown table cell: ``|`` escaped, line breaks flattened to spaces."""
    text = "" if value is None else str(value)
    return " ".join(text.replace("|", "\\|").split())


def _code(value: Any) -> str:
    """A Markdown inline code span that survives backticks inside ``value``."""
    text = " ".join(("" if value is None else str(value)).split())
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text} ``"


def _utc(value: Any) -> str:
    """Epoch seconds as ``2026-01-05 14:30:00 UTC``; text passes through; anything else is ``""``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_time(value)
    return value if isinstance(value, str) else ""


def _autoescape(name: str | None) -> bool:
    """Escape HTML only in templates an operator names ``*.html.j2``; text and Markdown are verbatim."""
    return bool(name and name.endswith((".html.j2", ".html")))


def _environment(loader: BaseLoader) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=loader,
        autoescape=_autoescape,
        undefined=ChainableUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = _utc
    env.filters["duration"] = lambda v: format_duration(v) if isinstance(v, int | float) else ""
    env.filters["cell"] = _cell
    env.filters["code"] = _code
    return env


class Templates:
    """The message templates: ``override_dir`` (the operator's folder, optional) before the defaults.

    A template in ``override_dir`` replaces the default of the same name; the others keep their
    defaults. When an operator's template fails at render time the default is rendered instead (and
    a warning logged), so a typo never stops a page; ``check`` reports it beforehand.
    """

    def __init__(self, override_dir: str | os.PathLike[str] | None = None) -> None:
        self.override_dir = str(override_dir) if override_dir else None
        defaults = PackageLoader("receiver", "templates")
        loaders: list[BaseLoader] = [defaults]
        if self.override_dir is not None:
            loaders.insert(0, FileSystemLoader(self.override_dir))
        self._env = _environment(ChoiceLoader(loaders))
        self._defaults = _environment(defaults)

    def render(self, name: str, **ctx: Any) -> str:
        """Render template ``name`` with the variables ``ctx``.

        Raises ``jinja2.TemplateNotFound`` for an unknown name and ``jinja2.TemplateError`` (or
        another exception from the template) only when the shipped default itself fails.
        """
        try:
            return self._env.get_template(name).render(ctx)
        except Exception as e:
            if not self.overridden(name):
                raise
            log.warning("operator template failed, using the default", template=name,
                        error=f"{type(e).__name__}: {e}")
            return self._defaults.get_template(name).render(ctx)

    def render_message(self, name: str, message: Message, *, now: float | None = None, **extra: Any) -> str:
        """Render ``name`` over ``message_context(message, now=now)`` plus ``extra`` variables."""
        return self.render(name, **{**message_context(message, now=now), **extra})

    def overridden(self, name: str) -> bool:
        """Whether the operator's folder has its own ``name``."""
        return self.override_dir is not None and (Path(self.override_dir) / name).is_file()

    def check(self) -> list[str]:
        """Compile every template (the operator's and the defaults) and render the known ones.

        Returns one message per problem, ``<file>:<line>: template '<name>': <what is wrong>`` for
        syntax errors; an empty list when all is well. Rendering uses a sample incident, which
        catches runtime errors such as an unknown test or a call the sandbox refuses.
        """
        errors: list[str] = []
        if self.override_dir is not None and not Path(self.override_dir).is_dir():
            errors.append(f"{self.override_dir}: templates_dir is not a directory")
        names = sorted({n for n in self._env.list_templates() if n.endswith(".j2")} | set(TEMPLATE_NAMES))
        broken: set[str] = set()
        for name in names:
            try:
                self._env.get_template(name)
            except _SyntaxError as e:
                broken.add(name)
                errors.append(f"{e.filename or name}:{e.lineno}: template '{name}': {e.message}")
            except TemplateError as e:
                broken.add(name)
                errors.append(f"{self._path(name)}: template '{name}': {e}")
        samples = sample_contexts()
        for name in TEMPLATE_NAMES:
            if name in broken:
                continue
            try:
                self._env.get_template(name).render(samples[name])
            except Exception as e:
                errors.append(f"{self._path(name)}: template '{name}': fails on a sample incident: "
                              f"{type(e).__name__}: {e}")
        return errors

    def _path(self, name: str) -> str:
        if self.overridden(name):
            assert self.override_dir is not None
            return str(Path(self.override_dir) / name)
        return name
