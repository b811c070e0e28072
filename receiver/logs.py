"""Structured logging with structlog: JSON lines (or console) to stderr, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import structlog

from receiver.redaction import Redactor


def _redactor(secrets: Sequence[str]) -> Any:
    redact = Redactor(secrets)

    def processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        return {k: redact(v) for k, v in event.items()} if redact else event

    return processor


def configure_logging(level: str = "info", fmt: str = "json", secrets: Sequence[str] = ()) -> None:
    """Configure structlog: ISO UTC timestamps, level, bound context; ``fmt`` json or console.

    Values that contain a configured secret (in strings, lists and dicts) have it replaced by ``<redacted>``.
    """
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redactor(list(secrets)),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
