"""Render step parameters with Jinja2's ``SandboxedEnvironment``.

Only the rule file's own strings are templates. Alert labels and annotations are *data*: they are
passed in as variables and never compiled, so a label ``{{ 7*7 }}`` arrives as ``{{ 7*7 }}``, not
``49``. Undefined variables render as ``""`` (an unset ``vars.trading_api_url`` gives an empty URL,
which the http action records as skipped), also with attributes after them: ``steps.later.result.outcome``
of a step that has not run (or, in ``simulate``, of any step) is ``""``. Secrets may be used in
parameters but are replaced by ``<redacted>`` wherever parameters are recorded. Besides Jinja2's
filters, ``path_segment`` (and ``urlencode``, which encodes ``/`` here) put a value into one URL path
segment (``receiver.rules.filters``).
"""

from __future__ import annotations

from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from receiver.clock import iso
from receiver.errors import ActionError
from receiver.model import Incident, IncidentAlert
from receiver.redaction import Redactor
from receiver.rules.filters import FILTERS

_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True, undefined=ChainableUndefined)
_ENV.filters.update(FILTERS)


def template_context(
    incident: Incident, alert: IncidentAlert | None, *, vars: dict[str, str], secrets: dict[str, str | None],
    incident_url: str | None = None, steps: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the variables templates see: ``alert``, ``incident``, ``vars``, ``secrets``, ``steps``.

    ``steps``: ``{name: {"result": {"outcome", "summary", "action", "data"}}}`` of the playbook's
    earlier steps (``receiver.playbooks.conditions.steps_view``).

    ``alert`` has ``labels``, ``annotations``, ``status``, ``starts_at``, ``fingerprint``;
    ``incident`` has ``id``, ``rule``, ``severity``, ``status``, ``title``, ``labels``,
    ``started_at`` (RFC 3339) and ``url``.
    """
    a = alert
    return {
        "alert": {
            "labels": dict(a.labels) if a else {},
            "annotations": dict(a.annotations) if a else {},
            "status": a.status if a else "",
            "starts_at": a.starts_at if a else "",
            "fingerprint": a.fingerprint if a else "",
        },
        "incident": {
            "id": incident.id, "rule": incident.rule, "severity": incident.severity,
            "status": incident.status, "title": incident.title, "labels": dict(incident.labels),
            "started_at": iso(incident.started_at), "url": incident_url or "",
        },
        "vars": dict(vars),
        "secrets": {k: (v or "") for k, v in secrets.items()},
        "steps": dict(steps or {}),
    }


def render_value(value: Any, ctx: dict[str, Any]) -> Any:
    """Render every string inside ``value`` (recursing into lists and dicts; keys are kept as is).

    Raises ``ActionError`` (not retryable) naming the template when it fails to compile or render.
    """
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        try:
            return _ENV.from_string(value).render(ctx)
        except TemplateError as e:
            raise ActionError(f"template {value!r} failed: {e}", retryable=False) from e
    if isinstance(value, list):
        return [render_value(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, ctx) for k, v in value.items()}
    return value


def redact(value: Any, secrets: list[str]) -> Any:
    """Return ``value`` with every occurrence of a secret string replaced by ``<redacted>``
    (``receiver.redaction.Redactor``, the one redaction every writer uses)."""
    return Redactor(secrets)(value)
