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
import contextlib
import itertools
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog

from receiver.errors import StoreConflict, StoreError, StoreRejected, StoreUnavailable
from receiver.model import AlertRecord
from receiver.redaction import NO_REDACTION, Redactor
from receiver.store.base import HEARTBEAT_KEY, heartbeat_seen
from receiver.store.group_commit import GroupCommit
from receiver.store.schema import migrations
from receiver.store.sql import UPSERT_ALERT, SqlTx, alert_row
from receiver.store.sqlite.ingest_process import ApplyFactory, IngestProcess

T = TypeVar("T")
log = structlog.get_logger("runbookd.store")


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


#: Bytes the WAL file is cut back to when it starts over (SQLite's ``journal_size_limit``).
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with runbookd's pragmas (autocommit; usable from any one thread at a time)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    # Statement and savepoint journals in memory, not in temporary files: ingest applies alerts under
    # a savepoint, and on file every page first changed after it was copied out with a write() of its
    # own (4.5 system calls per alert, measured: strace -c, docs/performance.md).
    conn.execute("PRAGMA temp_store=MEMORY")
    # When a commit starts the WAL over, a file grown past this during a burst is cut back to it.
    conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    return conn


#: Failed starts of the ingest process in a row after which ingest stays on the writer thread.
CHILD_START_ATTEMPTS = 3
#: Seconds between two tries to take the write lock while another connection holds it.
LOCK_RETRY = 0.0002


def begin_immediate(conn: sqlite3.Connection, timeout: float = 10.0) -> None:
    """``BEGIN IMMEDIATE``, retried every ``LOCK_RETRY`` s for up to ``timeout`` s while the write lock is
    held by another connection (one with ``busy_timeout=0``; SQLite's own busy handler sleeps in steps
    of up to 100 ms, far longer than our transactions hold the lock). Raises ``sqlite3.OperationalError``."""
    deadline = 0.0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            now = time.monotonic()
            deadline = deadline or now + timeout
            if now >= deadline:
                raise
            time.sleep(LOCK_RETRY)


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it does on SQLITE_FULL and other
    errors), so the caller re-raises the real cause: a failed ``ROLLBACK`` is logged, never raised
    in its place ("cannot rollback - no transaction is active" hid "database or disk is full")."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as e:
        log.warning("sqlite rollback failed", error=str(e))


#: ``apply(tx, changed_alerts, now) -> result``: see ``Store.process_on_ingest``.
Apply = Callable[[SqlTx, list[AlertRecord], float], Any]


@dataclass
class IngestState:
    """What ``ingest_batch`` keeps between the transactions of one connection.

    ``token`` changes whenever another connection committed since our last transaction (SQLite's
    ``data_version``) or ``stale`` was set (our last transaction failed, or another transaction ran
    on the same connection): an applier may keep what it read while the token stays the same.
    ``names`` are (alertname, incident) pairs known to be stored (they are never deleted), so they
    are not written again.
    """

    token: int = 0
    data_version: int | None = None
    stale: bool = False
    names: set[tuple[str, str]] = field(default_factory=set)


#: Past this many remembered (alertname, incident) pairs, ``IngestState.names`` starts over.
MAX_NAMES = 100_000


def ingest_batch(conn: sqlite3.Connection, batch: Sequence[tuple[Sequence[AlertRecord], float]],
                 apply: Apply | None, state: IngestState | None = None,
                 redact: Redactor = NO_REDACTION, heartbeat: str = "") -> tuple[list[int], int, Any]:
    """Upsert every alert of a group commit, then ``apply`` the changed ones, in one transaction.

    Returns (rows changed per request, alerts changed, what ``apply`` returned or ``None``). The
    changes are applied here only when no older change is still pending, so that the dispatcher
    never applies an older state after a newer one; otherwise, or when ``apply`` raises (its writes
    are rolled back to a savepoint), they are stored pending and the dispatcher takes them in order.
    ``redact`` is applied to what the applier writes (timeline, job payloads), as in every other
    transaction. A firing alert named ``heartbeat`` (``heartbeat.alertname``) sets ``HEARTBEAT_KEY``
    in the same transaction. Raises ``sqlite3.Error`` when the transaction cannot commit.
    """
    begin_immediate(conn)
    try:
        cur = conn.cursor()
        tx = SqlTx(cur, "sqlite")
        tx.redact = redact
        if state is not None:
            version = cur.execute("PRAGMA data_version").fetchone()[0]
            if state.stale or version != state.data_version:
                state.token, state.data_version, state.stale = state.token + 1, version, False
            tx.cache_token, tx.known_names = state.token, state.names
        inline = apply is not None and not tx.any_pending_alerts()
        pending = 0 if inline else 1
        counts, changed = [], []
        for alerts, now in batch:
            n = 0
            for a in alerts:
                if cur.execute(UPSERT_ALERT, alert_row(a, now, pending)).rowcount:
                    n += 1
                    changed.append(a)
            counts.append(n)
        seen = heartbeat_seen(batch, heartbeat)
        if seen is not None:
            tx.set_state(HEARTBEAT_KEY, repr(seen))
        result = None
        if inline and changed:
            assert apply is not None
            result = _apply_changed(tx, cur, apply, changed, max(now for _, now in batch))
        tx.flush_audit()
        conn.execute("COMMIT")
    except BaseException:
        if state is not None:
            state.stale = True
        rollback(conn)
        raise
    if state is not None:
        if len(state.names) > MAX_NAMES:
            state.names.clear()
        state.names |= tx.written_names
    return counts, len(changed), result


def tx_open(cur: sqlite3.Cursor) -> bool:
    """Whether the cursor's connection is still inside its transaction."""
    return bool(cur.connection.in_transaction)


def _apply_changed(tx: SqlTx, cur: sqlite3.Cursor, apply: Apply, changed: list[AlertRecord], now: float) -> Any:
    cur.execute("SAVEPOINT apply")
    try:
        result = apply(tx, changed, now)
    except Exception:  # left to the dispatcher, which retries them and logs per batch
        if not tx_open(cur):  # SQLite rolled the whole transaction back (disk full …): nothing is committed
            raise
        log.exception("applying alerts at ingest failed; left pending for the dispatcher")
        cur.execute("ROLLBACK TO apply")
        tx.written_names.clear()
        tx.audit_queue.clear()
        result = None
        tx.mark_alerts_processed([(a.fingerprint, a.starts_at) for a in changed], pending=1)
    cur.execute("RELEASE apply")
    return result


def batch_failed(e: Exception) -> StoreError:
    """Classify a failed group commit: an outage (``StoreUnavailable``: disk full, I/O, locked, a dead
    ingest process) or one request's data (``StoreRejected``); the group commit retries the latter's
    requests one by one."""
    if isinstance(e, StoreError):
        return e
    if isinstance(e, sqlite3.IntegrityError | sqlite3.DataError | sqlite3.InterfaceError | sqlite3.ProgrammingError
                  | UnicodeError | ValueError | TypeError | OverflowError):
        return StoreRejected(f"sqlite cannot hold this data: {type(e).__name__}: {e}")
    return StoreUnavailable(f"sqlite commit failed: {e}")


class SqliteStore:
    """The ``Store`` protocol on one SQLite file in WAL mode."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, redact: Redactor = NO_REDACTION, heartbeat_alertname: str = "") -> None:
        self.path = path
        self.redact = redact
        self.heartbeat_alertname = heartbeat_alertname
        self._writer = PriorityWriter("sqlite-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._group = GroupCommit(self._commit_batch, batch_failed)
        self._apply: Apply | None = None
        self._after: Callable[[Any], None] = lambda _: None
        self._child: IngestProcess | None = None
        self._state = IngestState()
        self._child_factory: ApplyFactory | None = None  # a new applier for the child, after a reload
        self._warming: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.path)
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
            rollback(conn)
            raise
        self._wconn = conn

    async def open(self) -> None:
        """Create or migrate the database file and open the connections. Raises ``StoreUnavailable``."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wrap_future(self._writer.submit(WORK, self._open_sync))
            self._rconn = await loop.run_in_executor(self._reader, connect, self.path)
        except (sqlite3.Error, OSError) as e:
            raise StoreUnavailable(f"cannot open {self.path}: {e}") from e

    async def close(self) -> None:
        """Stop the ingest process, close both connections and stop the threads."""
        loop = asyncio.get_running_loop()
        if self._child is not None:
            await self._child.stop()
        if self._wconn is not None:
            await asyncio.wrap_future(self._writer.submit(WORK, self._wconn.close))
        if self._rconn is not None:
            await loop.run_in_executor(self._reader, self._rconn.close)
        await asyncio.to_thread(self._writer.shutdown)
        self._reader.shutdown(wait=True)

    # -- ingest (group commit) ----------------------------------------------------------------
    def process_on_ingest(self, apply: Callable[[SqlTx, list[AlertRecord], float], T],
                          after: Callable[[T | None], None], *, factory: ApplyFactory | None = None,
                          init: Callable[[], None] | None = None) -> bool:
        """Apply alert state changes in ingest's own transaction (see ``Store.process_on_ingest``).

        With ``factory``, group commits run in a child process (``IngestProcess``), which builds its
        applier with ``factory()`` after running ``init()`` (logging set-up); calling this again, after
        a rules reload, makes the child build it again before its next commit.
        """
        self._apply, self._after = apply, after
        if factory is not None:
            if self._child is None:
                self._child = IngestProcess(self.path, factory, init, redact=self.redact,
                                            heartbeat=self.heartbeat_alertname)
                self._group.depth = 2  # the child commits one batch while the next is on its way
                with contextlib.suppress(RuntimeError):  # no running loop: the first commit starts it
                    self._warming = asyncio.get_running_loop().create_task(self._child.warm())
            else:
                self._child_factory = factory
        return True

    async def ingest(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Commit ``alerts`` in the next group commit; returns rows changed. Raises ``StoreUnavailable``."""
        return await self._group.submit(alerts, now)

    async def _commit_batch(self, batch: list[Any]) -> list[int]:
        entries = [(alerts, now) for alerts, now, _ in batch]
        if self._child is not None and self._child.start_failures >= CHILD_START_ATTEMPTS:
            log.error("ingest process cannot start; committing on the writer thread from now on",
                      attempts=self._child.start_failures)
            self._child, self._group.depth = None, 1
        if self._child is not None:
            if self._child_factory is not None:
                factory, self._child_factory = self._child_factory, None
                await self._child.reload(factory)
            counts, changed, result = await self._child.commit(entries)
        else:
            counts, changed, result = await asyncio.wrap_future(
                self._writer.submit(INGEST, ingest_batch, self._require(), entries, self._apply, self._state,
                                    self.redact, self.heartbeat_alertname))
        if changed:
            try:
                self._after(result)
            except Exception:  # the alerts are committed: the webhook's 200 must not depend on this
                log.exception("after-ingest callback failed")
        return counts  # type: ignore[no-any-return]

    # -- units of work ------------------------------------------------------------------------
    def _require(self) -> sqlite3.Connection:
        if self._wconn is None:
            raise StoreUnavailable("store is not open")
        return self._wconn

    def _tx_sync(self, fn: Callable[[SqlTx], T]) -> T:
        conn = self._require()
        # This connection's own commits do not move SQLite's data_version: tell ingest_batch directly
        # that something else wrote on it (same thread, so no race).
        self._state.stale = True
        conn.execute("BEGIN IMMEDIATE")
        try:
            tx = SqlTx(conn.cursor(), "sqlite")
            tx.redact = self.redact
            result = fn(tx)
            tx.flush_audit()
            conn.execute("COMMIT")
            return result
        except BaseException:
            rollback(conn)
            raise

    async def transaction(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(tx)`` in one write transaction on the writer thread.

        Raises ``StoreConflict`` (a constraint refused a write), ``StoreError`` (a value SQLite cannot
        take: the same call fails again) or ``StoreUnavailable`` (the database cannot read or commit).
        """
        try:
            return await asyncio.wrap_future(self._writer.submit(WORK, self._tx_sync, fn))
        except sqlite3.IntegrityError as e:
            raise StoreConflict(f"sqlite constraint: {e}") from e
        except (sqlite3.DataError, sqlite3.ProgrammingError, sqlite3.InterfaceError) as e:
            raise StoreError(f"sqlite refused the transaction: {e}") from e
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
