"""The ``Action`` protocol: what every playbook action plugin implements.

An action takes its *rendered* parameters (plain JSON-able values: the playbook has already
rendered every template) and either returns an ``ActionResult`` or raises
``receiver.errors.ActionError`` (``retryable`` per STYLE.md: transport errors, 5xx and 429 are
retryable; other 4xx are not). Actions know nothing of incidents, the store or each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Outcome = Literal["ok", "skipped", "dry_run"]


@dataclass(frozen=True)
class ActionResult:
    """What an action did.

    ``outcome``: ``ok`` (side effect done), ``skipped`` (integration not configured; ``summary``
    says why) or ``dry_run`` (nothing executed; ``summary`` says what would have been done).
    ``data``: JSON-able details for the timeline (status code, response excerpt, state before and
    after where the action can read it).
    """

    outcome: Outcome
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


class Action(Protocol):
    """A playbook action plugin (one file in ``receiver/actions/`` and one line in its registry)."""

    #: Whether running it twice has the same effect as once (safe to retry after a crash).
    idempotent: bool

    async def run(self, params: dict[str, Any], *, dry_run: bool, timeout: float) -> ActionResult:
        """Execute with rendered ``params``; ``timeout`` in seconds. Raises ``ActionError``."""
        ...
