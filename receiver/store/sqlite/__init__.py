"""The embedded SQLite store: ``SqliteStore`` (``store.py``) and the child process its ingest runs in
(``ingest_process.py``), one package because neither is used without the other.

``store.py`` holds the connection set-up, the priority writer thread and the group commit's
``ingest_batch``; ``ingest_process.py`` runs ``ingest_batch`` and its applier in a child process
beside the event loop (``webhook.ingest_process``, default true).
"""

from receiver.store.sqlite.store import WAL_SIZE_LIMIT, IngestState, SqliteStore, connect, ingest_batch, sqlite_path

__all__ = ["WAL_SIZE_LIMIT", "IngestState", "SqliteStore", "connect", "ingest_batch", "sqlite_path"]
