"""Durable storage: ``open_store(url)`` picks the backend from the ``storage`` URL."""

from __future__ import annotations

from receiver.errors import ConfigError
from receiver.store.base import Store, Tx
from receiver.store.sqlite import SqliteStore, sqlite_path

__all__ = ["Store", "Tx", "open_store", "SqliteStore"]


def open_store(url: str, *, base_dir: str = ".") -> Store:
    """Return an unopened store for ``url``: ``sqlite:///…`` now (``postgresql://…`` comes next).

    Raises ``ConfigError`` for an unsupported scheme.
    """
    if url.startswith("sqlite:///"):
        return SqliteStore(sqlite_path(url, base_dir))
    raise ConfigError(f"storage: unsupported URL {url!r} (use sqlite:///path)")
