"""``action: log`` — writes a rendered message to runbookd's log (and, through its result, the timeline)."""

from __future__ import annotations

from typing import Any

import structlog

from receiver.actions.base import ActionResult
from receiver.errors import ActionError

LEVELS = ("debug", "info", "warning", "error")


class LogAction:
    """Logs ``params["message"]`` at ``params["level"]`` (default ``info``) as a ``playbook_log`` event.

    It has no side effect outside runbookd, so it runs in dry-run too (the log line carries
    ``dry_run=True``) and always answers ``ok``. ``idempotent`` is True.
    """

    idempotent = True

    def __init__(self) -> None:
        self._log = structlog.get_logger("runbookd.actions.log")

    async def run(self, params: dict[str, Any], *, dry_run: bool, timeout: float) -> ActionResult:
        """Log the message; return ``ActionResult("ok", message)``. ``timeout`` is unused.

        Raises ``ActionError`` (not retryable) for a level outside debug/info/warning/error.
        """
        message = str(params.get("message") or "")
        level = str(params.get("level") or "info").lower()
        if level not in LEVELS:
            raise ActionError(f"unknown log level {level!r} (expected one of {', '.join(LEVELS)})", retryable=False)
        fields: dict[str, Any] = {"message": message}
        if dry_run:
            fields["dry_run"] = True
        getattr(self._log, level)("playbook_log", **fields)
        return ActionResult("ok", message, {"level": level})
