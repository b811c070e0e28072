"""SQLite store (WAL) for a single replica: one writer thread with group commit, one reader thread.

Why not aiosqlite: it hops to its thread once per statement; ingest must cost one hop and one
commit per *batch of requests* (group commit), which is what lets a single SQLite file take
thousands of alerts per second. Every statement therefore runs on a dedicated one-thread executor
that owns the write connection; reads use a second connection on their own thread (WAL readers
do not block the writer). ``synchronous=NORMAL`` in WAL mode keeps every committed transaction
across a process crash (kill -9); only a power loss can drop the last commits.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from receiver.errors import StoreConflict, StoreError, StoreUnavailable
from receiver.model import AlertRecord
from receiver.store.group_commit import GroupCommit
from receiver.store.schema import migrations
from receiver.store.sql import UPSERT_ALERT, SqlTx, alert_row

T = TypeVar("T")


def sqlite_path(url: str, base_dir: str) -> Path:
    """Resolve ``sqlite:///rel/path`` (relative to ``base_dir``) or ``sqlite:////abs/path``."""
    if not url.startswith("sqlite:///"):
        raise StoreError(f"storage: not a sqlite URL: {url!r}")
    rest = url[len("sqlite:///"):]
    p = Path(rest)
    return p if p.is_absolute() else Path(base_dir) / p


INGEST, WORK = 0, 1
"""Priorities on the writer thread: ingest's group commits go before the dispatcher's units of work."""


class PriorityWriter:
    """One thread running submitted calls in priority order (then FIFO); lower numbers first.

    Webhook commits must not wait behind a queue of dispatcher transactions: Alertmanager is waiting
    for the 200. A call already running is never interrupted.
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Any, tuple[Any, ...], Future[Any] | None]] = (
            queue.PriorityQueue())
        self._seq = itertools.count()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, priority: int, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)``; the returned future carries its result or exception."""
        fut: Future[T] = Future()
        self._queue.put((priority, next(self._seq), fn, args, fut))
        return fut

    def _loop(self) -> None:
        while True:
            _, _, fn, args, fut = self._queue.get()
            if fut is None:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 — handed to the awaiting coroutine
                fut.set_exception(e)

    def shutdown(self) -> None:
        """Run what is queued, then stop the thread."""
        self._queue.put((sys.maxsize, next(self._seq), None, (), None))
        self._thread.join()


class SqliteStore:
    """The ``Store`` protocol on one SQLite file in WAL mode."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = PriorityWriter("sqlite-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._group = GroupCommit(self._commit_batch, lambda e: StoreUnavailable(f"sqlite commit failed: {e}"))

    # -- lifecycle ----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")  # the write lock serialises two processes migrating at once
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for version, stmts in enumerate(migrations("sqlite"), start=1):
                if version <= current:
                    continue
                for stmt in stmts:
                    conn.execute(stmt)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._wconn = conn

    async def open(self) -> None:
        """Create or migrate the database file and open the connections. Raises ``StoreUnavailable``."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wrap_future(self._writer.submit(WORK, self._open_sync))
            self._rconn = await loop.run_in_executor(self._reader, self._connect)
        except (sqlite3.Error, OSError) as e:
            raise StoreUnavailable(f"cannot open {self.path}: {e}") from e

    async def close(self) -> None:
        """Close both connections and stop the threads."""
        loop = asyncio.get_running_loop()
        if self._wconn is not None:
            await asyncio.wrap_future(self._writer.submit(WORK, self._wconn.close))
        if self._rconn is not None:
            await loop.run_in_executor(self._reader, self._rconn.close)
        await asyncio.to_thread(self._writer.shutdown)
        self._reader.shutdown(wait=True)

    # -- ingest (group commit) ----------------------------------------------------------------
    async def ingest(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Commit ``alerts`` in the next group commit; returns rows changed. Raises ``StoreUnavailable``."""
        return await self._group.submit(alerts, now)

    async def _commit_batch(self, batch: list[Any]) -> list[int]:
        return await asyncio.wrap_future(self._writer.submit(INGEST, self._ingest_sync, batch))

    def _ingest_sync(self, batch: list[tuple[Sequence[AlertRecord], float, Any]]) -> list[int]:
        conn = self._require()
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = []
            for alerts, now, _ in batch:
                before = conn.total_changes
                conn.executemany(UPSERT_ALERT, [alert_row(a, now) for a in alerts])
                counts.append(conn.total_changes - before)
            conn.execute("COMMIT")
            return counts
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- units of work ------------------------------------------------------------------------
    def _require(self) -> sqlite3.Connection:
        if self._wconn is None:
            raise StoreUnavailable("store is not open")
        return self._wconn

    def _tx_sync(self, fn: Callable[[SqlTx], T]) -> T:
        conn = self._require()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(SqlTx(conn.cursor(), "sqlite"))
            conn.execute("COMMIT")
            return result
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def transaction(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(tx)`` in one write transaction on the writer thread; raises ``StoreUnavailable``."""
        try:
            return await asyncio.wrap_future(self._writer.submit(WORK, self._tx_sync, fn))
        except sqlite3.IntegrityError as e:
            raise StoreConflict(f"sqlite constraint: {e}") from e
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite transaction failed: {e}") from e

    def _read_sync(self, fn: Callable[[SqlTx], T]) -> T:
        if self._rconn is None:
            raise StoreUnavailable("store is not open")
        self._rconn.execute("BEGIN")
        try:
            return fn(SqlTx(self._rconn.cursor(), "sqlite"))
        finally:
            self._rconn.execute("COMMIT")

    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run read-only ``fn(tx)`` on the reader thread (a consistent snapshot)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader, self._read_sync, fn)
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite read failed: {e}") from e

    async def ping(self) -> bool:
        """Return whether a ``SELECT 1`` answers on the reader connection."""
        try:
            return await self.read(lambda tx: tx._x("SELECT 1").fetchone()[0] == 1)
        except StoreUnavailable:
            return False
