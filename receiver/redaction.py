"""``Redactor``: replaces every known secret value by ``<redacted>`` in text and JSON-like values.

One function for every place that records something: the store's writers (job results and payloads,
timeline messages and data, so the API, notifications and the post-mortem read redacted text), the
playbook runner's shown parameters and the logs. The secrets are values, not names: every configured
token, key and password and the env-expanded ``secrets:`` of rule templates
(``receiver.settings.Settings.secret_values``). A leaf module (no imports from ``receiver``), so the
store may use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

REDACTED = "<redacted>"


class Redactor:
    """Replaces each of ``secrets`` (longest first; empty values ignored) wherever it occurs in a string."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets: tuple[str, ...] = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __call__(self, value: Any) -> Any:
        """``value`` with every secret replaced, recursing into lists, tuples and dict values (keys kept).

        Other values (numbers, booleans, ``None``) are returned as they are; nothing is changed in place.
        """
        if not self.secrets:
            return value
        if isinstance(value, str):
            for s in self.secrets:
                if s in value:
                    value = value.replace(s, REDACTED)
            return value
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value


NO_REDACTION = Redactor()
"""A ``Redactor`` without secrets: returns every value unchanged."""
