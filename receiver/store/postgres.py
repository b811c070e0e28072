"""PostgreSQL store for several replicas: psycopg 3 (sync) on a worker-thread pool, group-committed ingest.

Storage URL: ``postgresql://user[:password]@host[:port]/database[?schema=name&<libpq parameters>]``.
``schema`` (optional, an SQL identifier) selects the schema runbookd's tables live in; it is created
on ``open()`` and set as the connections' ``search_path``, so several deployments (or tests) can share
one database. Without it the server's default ``search_path`` (normally ``public``) is used. Every
other query parameter is a libpq connection parameter (``sslmode``, ``connect_timeout``, …).

Why the synchronous API on threads: units of work (``fn(tx)``) are synchronous by the ``Store``
contract, so each runs on a worker thread holding one pooled connection for one transaction. Ingest
batches concurrent webhook requests into one transaction and one ``executemany`` (group commit, as
``sqlite.py``), so a burst of webhooks costs one WAL flush, not one per request.

Coordination between replicas is PostgreSQL's alone:

- ``open()`` migrates under ``pg_advisory_xact_lock`` so replicas starting together are safe.
- Work rows and pending alerts are claimed with ``FOR UPDATE SKIP LOCKED`` (``sql.py``); the unique
  partial index ``incidents_open_identity`` refuses a second open incident (``StoreConflict``).
- A transaction that enqueued work or committed new alert states sends ``NOTIFY runbookd_work``
  (payload: the schema) at commit; ``on_work(callback)`` LISTENs on a dedicated connection and calls
  ``callback`` for each, so idle replicas wake at once (the dispatcher's poll tick stays as fallback).

Errors: connection failures, pool time-outs and other operational errors raise ``StoreUnavailable``;
a uniqueness or foreign-key violation, a deadlock or a serialization failure raise ``StoreConflict``
(another writer won: retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import structlog
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from receiver.errors import StoreConflict, StoreError, StoreRejected, StoreUnavailable
from receiver.model import AlertRecord, Job
from receiver.redaction import NO_REDACTION, Redactor
from receiver.store.base import HEARTBEAT_KEY, JobFilter, heartbeat_seen
from receiver.store.group_commit import GroupCommit
from receiver.store.schema import migrations
from receiver.store.sql import _JOB_COLS, UPSERT_ALERT, SqlTx, _loads, alert_row

T = TypeVar("T")
log = structlog.get_logger("runbookd.store")

#: The channel replicas LISTEN on; the payload is the schema whose work changed.
CHANNEL = "runbookd_work"
#: Connections per replica (and worker threads running units of work).
POOL_SIZE = 10
#: Seconds a unit of work waits for a pooled connection before ``StoreUnavailable``.
ACQUIRE_TIMEOUT = 3.0
#: Seconds ``ping`` (``/-/ready``) waits for a connection before reporting the store down.
PING_TIMEOUT = 2.0
#: First argument of the two-key advisory lock taken while migrating ("rbkd").
LOCK_CLASS = 0x72626B64
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_CONN_DEFAULTS = {
    "connect_timeout": "5",
    "application_name": "runbookd",
    # A database host that vanishes (no RST) is noticed in ~25 s instead of the kernel's 2 hours.
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
}
_INGEST_RETRIES = 3


def parse_postgres_url(url: str) -> tuple[str, str | None]:
    """Split a storage URL into (libpq conninfo, schema or ``None``).

    The conninfo carries runbookd's defaults (``connect_timeout=5``, TCP keepalives,
    ``application_name=runbookd``) unless the URL sets them, and ``-csearch_path=<schema>`` in
    ``options`` when a schema is given. Raises ``StoreError`` for a malformed URL or schema name.
    """
    if not url.startswith(("postgresql://", "postgres://")):
        raise StoreError(f"storage: not a postgresql URL: {url.split('@')[-1]!r}")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = [(k, v) for k, v in query if k != "schema"]
    if schema is not None and not _IDENT.match(schema):
        raise StoreError(f"storage: schema {schema!r} is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*)")
    try:
        params = conninfo_to_dict(urlunsplit(parts._replace(query=urlencode(rest))))
    except psycopg.ProgrammingError as e:
        raise StoreError(f"storage: invalid postgresql URL: {e}") from None
    for k, v in _CONN_DEFAULTS.items():
        params.setdefault(k, v)
    if schema is not None:
        params["options"] = f"{params.get('options') or ''} -csearch_path={schema}".strip()
    return make_conninfo("", **params), schema


def migration_lock_key(schema: str | None) -> tuple[int, int]:
    """The ``pg_advisory_xact_lock(int, int)`` key held while migrating ``schema`` (a signed int32 pair)."""
    h = zlib.crc32(f"runbookd:{schema or ''}".encode())
    return LOCK_CLASS, h - (1 << 32) if h >= 1 << 31 else h


class _Sent:
    """A statement sent in pipeline mode: reading its rows or ``rowcount`` waits for its result."""

    __slots__ = ("_cur", "_pipeline")

    def __init__(self, cur: Any, pipeline: psycopg.Pipeline) -> None:
        self._cur = cur
        self._pipeline = pipeline

    @property
    def rowcount(self) -> int:
        """Rows the statement changed (syncs the pipeline)."""
        self._pipeline.sync()
        return int(self._cur.rowcount)

    def fetchone(self) -> Any:
        """The first row (psycopg syncs the pipeline for it)."""
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        """Every row (psycopg syncs the pipeline for them)."""
        return list(self._cur.fetchall())


class PgTx(SqlTx):
    """``SqlTx`` on PostgreSQL that remembers whether the transaction made work for other replicas.

    With a ``pipeline`` (units of work), statements are sent without waiting for each answer: a
    transaction waits only where it reads a result (rows, ``rowcount``), so the inserts and updates of
    a batch cost one round trip together instead of one each. An error then surfaces at the next
    read or at commit; the whole transaction rolls back either way.
    """

    def __init__(self, cur: Any, *, read_only: bool = False, pipeline: psycopg.Pipeline | None = None) -> None:
        super().__init__(cur, "postgresql")
        if read_only:  # a snapshot locks nothing (and PostgreSQL refuses FOR UPDATE in a read-only one)
            self._lock = self._row_lock = ""
        self._pipeline = pipeline
        #: Set when a work row was added or an alert state changed: commit then NOTIFYs.
        self.made_work = False

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._pipeline is None:
            return super()._x(sql, params)
        cur = self._cur.connection.cursor()  # one cursor per statement: each keeps its own result
        cur.execute(sql.replace("?", "%s"), params)
        return _Sent(cur, self._pipeline)

    def enqueue(self, key: str, kind: str, incident_id: str, payload: dict[str, Any],
                due_at: float, now: float) -> bool:
        """Add a pending work row unless ``key`` exists (see ``SqlTx.enqueue``); notes it for NOTIFY."""
        added = super().enqueue(key, kind, incident_id, payload, due_at, now)
        self.made_work = self.made_work or added
        return added

    def claim_jobs(self, now: float, limit: int, claimer: str, lease: float,
                   where: JobFilter | None = None) -> list[Job]:
        """Claim up to ``limit`` due rows for ``lease`` s (see ``SqlTx.claim_jobs``), expired leases first.

        Two queries that each walk the ``jobs_due (state, due_at)`` index in order and stop after
        ``limit`` unlocked rows, where the portable ``… OR …`` sorts every due row on each claim: a
        storm's backlog of due pages must not make every claim of every replica slower.
        """
        cond, params = self.job_filter(where)
        rows = self._x(
            f"SELECT {_JOB_COLS} FROM jobs WHERE state = 'running' AND lease_until < ?{cond} "
            f"ORDER BY due_at, id LIMIT ?{self._lock}", (now, *params, limit)).fetchall()
        if len(rows) < limit:
            rows += self._x(
                f"SELECT {_JOB_COLS} FROM jobs WHERE state = 'pending' AND due_at <= ?{cond} "
                f"ORDER BY due_at, id LIMIT ?{self._lock}", (now, *params, limit - len(rows))).fetchall()
        if rows:
            self._x(
                "UPDATE jobs SET state = 'running', claimed_by = ?, lease_until = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE id = ANY(?)", (claimer, now + lease, now, [r[0] for r in rows]))
        return [Job(r[0], r[1], r[2], r[3], _loads(r[4]), "running", r[6], r[7] + 1, takeover=r[5] == "running")
                for r in rows]

    def upsert_alerts(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Insert new alerts and apply firing→resolved (see ``SqlTx``); notes changes for NOTIFY."""
        changed = super().upsert_alerts(alerts, now)
        self.made_work = self.made_work or changed > 0
        return changed


def _translate(e: Exception, what: str) -> StoreError:
    """Map a psycopg exception to runbookd's store errors."""
    if isinstance(e, psycopg.IntegrityError | pgerrors.TransactionRollback):
        return StoreConflict(f"postgresql {what}: {e}")
    if isinstance(e, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable(f"postgresql {what} failed: {e}")
    return StoreError(f"postgresql {what} failed: {e}")


class PostgresStore:
    """The ``Store`` protocol on PostgreSQL; safe to share between several runbookd processes."""

    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE, acquire_timeout: float = ACQUIRE_TIMEOUT,
                 redact: Redactor = NO_REDACTION, heartbeat_alertname: str = "") -> None:
        """Prepare (not connect) a store for ``url``; ``redact`` applies to what transactions write
        (``SqlTx.redact``); a firing alert named ``heartbeat_alertname`` records the heartbeat in
        ingest's commit. Raises ``StoreError`` for a malformed URL."""
        self.redact = redact
        self.heartbeat_alertname = heartbeat_alertname
        self.conninfo, self.schema = parse_postgres_url(url)
        self.pool_size = pool_size
        self.acquire_timeout = acquire_timeout
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._threads = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="postgres")
        self._group = GroupCommit(self._commit_batch, self._batch_failed)
        self._checking = False
        self._listener: asyncio.Task[None] | None = None
        self._callbacks: list[Callable[[], None]] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def _migrate_sync(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", migration_lock_key(self.schema))
            if self.schema is not None:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = (row[0] if row else None) or 0
            for version, stmts in enumerate(migrations("postgresql"), start=1):
                if version <= current:
                    continue
                for stmt in stmts:
                    conn.execute(stmt)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
                log.info("schema migrated", version=version, schema=self.schema or "default")
            conn.execute("COMMIT")

    def _open_sync(self) -> None:
        self._migrate_sync()
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self.conninfo, kwargs={"autocommit": True}, min_size=2, max_size=self.pool_size, open=False,
            timeout=self.acquire_timeout, name="runbookd",
            # Give up a reconnect series quickly: the next request starts a fresh one (1 s, 2 s, …)
            # instead of waiting out a long exponential delay after the database came back.
            reconnect_timeout=10.0,
        )
        try:
            pool.open(wait=True, timeout=10.0)
        except BaseException:
            pool.close()  # else its workers keep trying to connect in the background
            raise
        self._pool = pool

    async def open(self) -> None:
        """Create the schema if needed, migrate it under an advisory lock, and open the pool.

        Raises ``StoreUnavailable`` when the database cannot be reached or migrated.
        """
        try:
            await asyncio.get_running_loop().run_in_executor(self._threads, self._open_sync)
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot open postgresql store: {e}") from e

    async def close(self) -> None:
        """Stop listening, close every connection and stop the worker threads."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.get_running_loop().run_in_executor(self._threads, pool.close)
        self._threads.shutdown(wait=True)

    def _require(self) -> ConnectionPool[psycopg.Connection[Any]]:
        if self._pool is None:
            raise StoreUnavailable("store is not open")
        return self._pool

    def _recheck(self) -> None:
        """After a connection error, test the idle connections in the background and drop dead ones.

        A database restart leaves every pooled connection broken; without this each would fail
        once before being replaced.
        """
        if self._checking or self._pool is None:
            return
        self._checking = True

        def check(pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
            try:
                pool.check()
            except psycopg.Error:
                pass
            finally:
                self._checking = False

        try:
            self._threads.submit(check, self._pool)
        except RuntimeError:  # shutting down
            self._checking = False

    def _notify(self, cur: Any) -> None:
        cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.schema or ""))

    # -- ingest (group commit) ----------------------------------------------------------------
    def process_on_ingest(self, apply: Callable[[SqlTx, list[AlertRecord], float], T],
                          after: Callable[[T | None], None], *, factory: Any = None, init: Any = None) -> bool:
        """Decline (returns ``False``): with several replicas, two of them applying the same identity
        at once would make the loser's whole group commit fail; changes stay pending and a replica's
        dispatcher claims them (``FOR UPDATE SKIP LOCKED``), redoing a batch that lost a race."""
        return False

    async def ingest(self, alerts: Sequence[AlertRecord], now: float) -> int:
        """Commit ``alerts`` in the next group commit; returns rows changed. Raises ``StoreUnavailable``."""
        return await self._group.submit(alerts, now)

    async def _commit_batch(self, batch: list[Any]) -> list[int]:
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._ingest_retrying, batch)

    def _batch_failed(self, e: Exception) -> StoreError:
        # An outage fails the whole batch (503); anything else may be one request's data, and the
        # group commit retries the batch's requests one by one.
        if isinstance(e, psycopg.OperationalError | StoreUnavailable):
            self._recheck()
        if isinstance(e, psycopg.OperationalError | psycopg.InterfaceError | StoreUnavailable
                      | pgerrors.TransactionRollback):
            return StoreUnavailable(f"postgresql commit failed: {e}")
        if isinstance(e, psycopg.DataError | UnicodeError | ValueError | TypeError | OverflowError):
            return StoreRejected(f"postgresql cannot hold this data: {e}")
        return StoreError(f"postgresql commit failed: {type(e).__name__}: {e}")

    def _ingest_retrying(self, batch: list[tuple[Sequence[AlertRecord], float, Any]]) -> list[int]:
        for attempt in range(_INGEST_RETRIES):
            try:
                return self._ingest_sync(batch)
            except pgerrors.TransactionRollback:  # a deadlock or serialization failure: upserts are idempotent
                if attempt == _INGEST_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _ingest_sync(self, batch: list[tuple[Sequence[AlertRecord], float, Any]]) -> list[int]:
        # Rows in (fingerprint, startsAt) order: every replica locks alert rows in the same order, so
        # two batches carrying the same alerts (an Alertmanager HA pair) queue instead of deadlocking.
        # The sort is stable, so a firing and its resolve in one batch keep their arrival order.
        rows = sorted(
            ((i, a.fingerprint, a.starts_at, alert_row(a, now)) for i, (alerts, now, _) in enumerate(batch)
             for a in alerts),
            key=lambda r: (r[1], r[2]),
        )
        counts = [0] * len(batch)
        seen = heartbeat_seen([(alerts, now) for alerts, now, _ in batch], self.heartbeat_alertname)
        if not rows:
            return counts
        with self._require().connection() as conn, conn.cursor() as cur:
            cur.execute("BEGIN")
            try:
                cur.executemany(UPSERT_ALERT.replace("?", "%s") + " RETURNING 1", [r[3] for r in rows],
                                returning=True)
                for n, (i, *_rest) in enumerate(rows):
                    if n:
                        cur.nextset()
                    counts[i] += cur.rowcount
                if seen is not None:
                    PgTx(cur).set_state(HEARTBEAT_KEY, repr(seen))
                if any(counts):
                    self._notify(cur)
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
                raise
        return counts

    # -- units of work ------------------------------------------------------------------------
    def _tx_sync(self, fn: Callable[[PgTx], T]) -> T:
        with self._require().connection() as conn:
            try:
                with conn.pipeline() as pipeline, conn.cursor() as cur:
                    cur.execute("BEGIN")
                    tx = PgTx(cur, pipeline=pipeline)
                    tx.redact = self.redact
                    result = fn(tx)
                    tx.flush_audit()
                    if tx.made_work:
                        self._notify(cur)
                    cur.execute("COMMIT")
                return result  # leaving the pipeline waited for COMMIT (and raised any error)
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
                raise

    async def transaction(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(tx)`` in one transaction on a worker thread and return its result.

        Raises ``StoreConflict`` (uniqueness, deadlock, serialization: retry), ``StoreUnavailable``
        (no connection, connection lost) or ``StoreError``; the transaction is then rolled back.
        """
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, self._tx_sync, fn)
        except psycopg.Error as e:
            err = _translate(e, "transaction")
            if isinstance(err, StoreUnavailable):
                self._recheck()
            raise err from e

    def _read_sync(self, fn: Callable[[PgTx], T]) -> T:
        with self._require().connection() as conn:
            try:
                with conn.pipeline() as pipeline, conn.cursor() as cur:
                    cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    result = fn(PgTx(cur, read_only=True, pipeline=pipeline))
                    cur.execute("COMMIT")
                return result
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
                raise

    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run read-only ``fn(tx)`` in one snapshot (``REPEATABLE READ READ ONLY``) on a worker thread.

        Raises ``StoreUnavailable`` or ``StoreError`` as ``transaction`` does.
        """
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, self._read_sync, fn)
        except psycopg.Error as e:
            err = _translate(e, "read")
            if isinstance(err, StoreUnavailable):
                self._recheck()
            raise err from e

    def _ping_sync(self) -> bool:
        pool = self._require()
        for _ in range(2):
            try:
                with pool.connection(timeout=PING_TIMEOUT) as conn:
                    return conn.execute("SELECT 1").fetchone() == (1,)
            except PoolTimeout:  # no connection could be made: the database is down
                return False
            except psycopg.OperationalError:  # a connection left broken by a restart: replace them, retry
                with contextlib.suppress(psycopg.Error):
                    pool.check()
        return False

    async def ping(self) -> bool:
        """Return whether ``SELECT 1`` answers within ``PING_TIMEOUT`` s (for ``/-/ready``); never raises.

        Connections a database restart left broken are replaced first, so they do not report the
        store down once it is back.
        """
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, self._ping_sync)
        except (StoreError, psycopg.Error, RuntimeError):
            return False

    # -- wake-up across replicas ---------------------------------------------------------------
    def on_work(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (on the event loop) whenever any replica commits new work or alert states.

        Starts a listener task holding one dedicated connection (``LISTEN runbookd_work``); it
        reconnects by itself after a connection loss and calls ``callback`` once on each (re)connect,
        since notifications sent while it was away are lost. Must be called on the running loop.
        """
        self._callbacks.append(callback)
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    def _fire(self) -> None:
        for cb in self._callbacks:
            try:
                cb()
            except Exception:  # a broken callback must not stop the listener
                log.exception("work callback failed")

    async def _listen(self) -> None:
        delay = 0.5
        mine = self.schema or ""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.5
                    self._fire()
                    async for n in conn.notifies():
                        if n.payload == mine:
                            self._fire()
            except Exception as e:  # psycopg.Error, OSError …: keep listening whatever happened
                log.warning("listener lost its connection; reconnecting", error=str(e), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)
