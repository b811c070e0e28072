"""Durable storage: ``open_store(url)`` picks the backend from the ``storage`` URL."""

from __future__ import annotations

from receiver.errors import ConfigError, StoreError
from receiver.redaction import NO_REDACTION, Redactor
from receiver.store.base import Store, Tx
from receiver.store.sqlite import SqliteStore, sqlite_path

__all__ = ["Store", "Tx", "open_store", "redact_url", "SqliteStore"]


def redact_url(url: str) -> str:
    """``url`` without its query and without the password of its user part, for logs."""
    head = url.split("?", 1)[0]
    scheme, sep, rest = head.partition("://")
    user, at, host = rest.rpartition("@")
    if not sep or not at:
        return head
    return f"{scheme}://{user.split(':', 1)[0]}{':***' if ':' in user else ''}@{host}"


def open_store(url: str, *, base_dir: str = ".", redact: Redactor = NO_REDACTION,
               heartbeat_alertname: str = "") -> Store:
    """Return an unopened store for ``url``: ``sqlite:///path`` or ``postgresql://…[?schema=name]``;
    ``redact`` is applied to the timeline, job results and notification payloads it writes; a
    firing alert named ``heartbeat_alertname`` records the heartbeat in ingest's commit.

    Raises ``ConfigError`` for an unsupported scheme or a malformed PostgreSQL URL.
    """
    if url.startswith("sqlite:///"):
        return SqliteStore(sqlite_path(url, base_dir), redact=redact, heartbeat_alertname=heartbeat_alertname)
    if url.startswith(("postgresql://", "postgres://")):
        from receiver.store.postgres import PostgresStore  # psycopg is imported only when used

        try:
            return PostgresStore(url, redact=redact, heartbeat_alertname=heartbeat_alertname)
        except StoreError as e:
            raise ConfigError(str(e)) from None
    raise ConfigError(f"storage: unsupported URL {url.split('@')[-1]!r} (use sqlite:///path or postgresql://…)")
