"""Structured logging with structlog: JSON lines (or console) to stderr, secrets redacted.

Libraries that log through the standard ``logging`` module go through the same processors and
renderer: ``psycopg.pool`` (psycopg_pool: a connection that failed, a broken connection discarded,
a pool that cannot fill) and the rest of ``psycopg`` come out as the same JSON lines as runbookd's
own events, with ``logger`` naming the source. Their INFO lines (one per borrowed connection) are
not shown: those loggers pass WARNING and above, or the configured level if it is higher.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import structlog

from receiver.redaction import Redactor

#: Standard-library loggers routed into structlog's output (``psycopg.pool`` is a child of ``psycopg``).
STDLIB_LOGGERS = ("psycopg",)


def _redactor(secrets: Sequence[str]) -> Any:
    redact = Redactor(secrets)

    def processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        return {k: redact(v) for k, v in event.items()} if redact else event

    return processor


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes to whatever ``sys.stderr`` is when a record is emitted (as structlog's
    own output does after ``configure_logging``), so redirected stderr is honoured."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _route_stdlib(level: int, shared: list[Any], renderer: Any) -> None:
    """Send the records of ``STDLIB_LOGGERS`` through ``shared`` processors and ``renderer`` to stderr."""
    handler = _StderrHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    ))
    for name in STDLIB_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(max(level, logging.WARNING))
        logger.propagate = False


def configure_logging(level: str = "info", fmt: str = "json", secrets: Sequence[str] = ()) -> None:
    """Configure structlog: ISO UTC timestamps, level, bound context; ``fmt`` json or console.

    Values that contain a configured secret (in strings, lists and dicts) have it replaced by ``<redacted>``.
    The standard library loggers of ``STDLIB_LOGGERS`` are rendered the same way (see the module
    docstring); calling this again replaces, not adds, their handler.
    """
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redactor(list(secrets)),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(numeric, shared, renderer)
