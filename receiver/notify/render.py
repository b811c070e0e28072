"""The ``MessageRenderer`` protocol: how a channel asks for a message template to be rendered.

Implemented by ``receiver.escalation.templates.Templates`` (the seeds' formats, overridable by
operators); channels depend only on this protocol, not on the escalation layer that owns the templates.
"""

from __future__ import annotations

from typing import Protocol

from receiver.notify.base import Message


class MessageRenderer(Protocol):
    """Renders a named message template (``alert.txt.j2``, ``update.txt.j2``, …) over a ``Message``."""

    def render_message(self, name: str, message: Message, *, now: float | None = None) -> str:
        """Return template ``name`` rendered for ``message``; ``now`` is epoch seconds (UTC)."""
        ...
