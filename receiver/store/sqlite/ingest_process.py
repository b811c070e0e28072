"""SQLite ingest in a child process: group commits and their applier run beside the event loop.

Python runs one thread at a time per process (the GIL). Ingest's group commit — upserting the
alerts and applying them to incidents in the same transaction — is pure Python and SQLite work
that would otherwise share one CPU with the event loop parsing the next requests. ``IngestProcess``
moves it to a child process (``multiprocessing`` *spawn*: no fork of a threaded parent) with its
own connection to the same WAL database, so the two run on two CPUs. The parent sends each batch
over a socket pair and waits for the child's reply before any request of the batch is answered, so an
alert acknowledged with 200 is committed exactly as with the in-process writer.

The child builds its applier itself from a picklable factory (it cannot receive a closure); a
rules reload in the parent is forwarded as ``reload``, upon which the child calls the factory
again. A child that dies is started again on the next batch; the batch it was working on is
answered 503 (its transaction rolled back with the process), and Alertmanager sends it again.
Other writers (the dispatcher, the admin API) keep using the parent's connection; SQLite's lock
and ``busy_timeout`` order the two processes' transactions.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import multiprocessing
import os
import pickle
import signal
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog

from receiver.errors import StoreRejected, StoreUnavailable
from receiver.model import AlertRecord
from receiver.redaction import NO_REDACTION, Redactor

log = structlog.get_logger("runbookd.store")
#: ``factory()`` returns the applier: ``apply(tx, changed_alerts, now) -> result`` (see ``Store.process_on_ingest``).
ApplyFactory = Callable[[], Callable[[Any, list[AlertRecord], float], Any]]
#: One group commit: each request's alerts and its receive time (epoch seconds).
Batch = list[tuple[Sequence[AlertRecord], float]]
#: Seconds the child may take to start (imports, opening the database) before ``start`` fails.
START_TIMEOUT = 30.0


class IngestProcess:
    """The parent's handle on the ingest child, used from the event loop.

    Messages are pickles framed as ``multiprocessing.Connection`` frames them (a 4-byte big-endian
    length, then the bytes), read and written by the event loop itself: no thread hop per batch.
    Several exchanges may be under way: the child works through them in order and a reader task
    hands each reply to the oldest one waiting. ``start`` blocks and runs on a worker thread.
    """

    def __init__(self, path: Path, factory: ApplyFactory, init: Callable[[], None] | None = None,
                 restart_frames: int | None = None, redact: Redactor = NO_REDACTION, heartbeat: str = "") -> None:
        """``restart_frames``: WAL pages past which the child has the WAL start over (default
        ``RESTART_FRAMES``); ``redact``: the store's secret redaction, applied in the child's
        transactions too; ``heartbeat``: ``heartbeat.alertname``, recorded in the child's commits."""
        self.path = path
        self.redact = redact
        self.heartbeat = heartbeat
        self.restart_frames = RESTART_FRAMES if restart_frames is None else restart_frames
        self.factory = factory
        self.init = init
        self._ctx = multiprocessing.get_context("spawn")
        self.start_failures = 0
        self._proc: Any = None
        self._conn: Any = None
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock: asyncio.Lock | None = None
        self._replies: collections.deque[asyncio.Future[tuple[bool, Any]]] = collections.deque()
        self._reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the child and wait until it has opened the database (blocking). Raises ``StoreUnavailable``.

        ``start_failures`` counts the failed starts since the last good one.
        """
        self.start_failures += 1
        parent, child = self._ctx.Pipe()
        args = (child, str(self.path), self.factory, self.init, self.restart_frames, self.redact, self.heartbeat)
        proc = self._ctx.Process(target=_child_main, args=args, name="runbookd-ingest", daemon=True)
        proc.start()
        child.close()
        if not parent.poll(START_TIMEOUT):
            proc.kill()
            raise StoreUnavailable("ingest process did not start")
        try:
            ok, detail = parent.recv()
        except EOFError:
            ok, detail = False, f"exited with code {proc.exitcode}"
        if not ok:
            proc.kill()
            raise StoreUnavailable(f"ingest process failed to start: {detail}")
        self._proc, self._conn = proc, parent
        self.start_failures = 0

    @property
    def alive(self) -> bool:
        """Whether the child is running."""
        return self._proc is not None and self._proc.is_alive()

    async def _connected(self) -> asyncio.StreamWriter:
        if self._streams is None or not self.alive:
            self._discard(StoreUnavailable("ingest process exited"))
            await asyncio.to_thread(self.start)
            sock = socket.socket(fileno=os.dup(self._conn.fileno()))
            self._streams = await asyncio.open_connection(sock=sock)
            self._reader = asyncio.get_running_loop().create_task(self._read_replies(self._streams[0]))
        return self._streams[1]

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        """Hand each reply to the oldest waiting exchange (the child answers in order)."""
        try:
            while True:
                size = struct.unpack("!i", await reader.readexactly(4))[0]
                reply = pickle.loads(await reader.readexactly(size))
                fut = self._replies.popleft()
                if not fut.done():
                    fut.set_result(reply)
        except (asyncio.IncompleteReadError, OSError, IndexError) as e:  # the child died or was stopped
            self._discard(StoreUnavailable(f"ingest process died: {e!r}"), reader_done=True)

    def _discard(self, error: StoreUnavailable, reader_done: bool = False) -> None:
        """Forget the child (killing it if it runs) and fail every exchange still waiting for it."""
        while self._replies:
            fut = self._replies.popleft()
            if not fut.done():
                fut.set_exception(error)
        if self._reader is not None and not reader_done:
            self._reader.cancel()
        self._reader = None
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
        if self._proc is not None:
            self._proc.kill()
            self._conn.close()
            self._proc = None

    async def _exchange(self, message: tuple[Any, ...]) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        fut: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        async with self._lock:  # requests leave in the order exchanges began; replies come back in it
            writer = await self._connected()
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            self._replies.append(fut)
            try:
                writer.write(struct.pack("!i", len(data)) + data)
            except OSError as e:
                self._discard(StoreUnavailable(f"ingest process died: {e!r}"))
        ok, value = await fut
        if not ok:
            raise value
        return value

    async def warm(self) -> None:
        """Start the child now rather than at the first commit; a failure is left for that commit."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                await self._connected()
            except StoreUnavailable as e:
                log.error("ingest process did not start; the next webhook tries again", error=str(e))

    async def commit(self, batch: Batch) -> tuple[list[int], int, Any]:
        """Commit one group commit in the child: (rows changed per request, alerts changed, applier result).

        Raises ``StoreUnavailable`` when the child cannot commit or died; ``sqlite3.Error`` as raised there.
        """
        # Plain tuples: pickling slotted dataclasses goes through Python code, tuples do not.
        packed = [([(a.fingerprint, a.starts_at, a.status, a.labels, a.annotations, a.starts_ts, a.ends_ts,
                     a.generator_url, a.truncated, a.group_key) for a in alerts], now) for alerts, now in batch]
        return await self._exchange(("commit", packed))  # type: ignore[no-any-return]

    async def reload(self, factory: ApplyFactory) -> None:
        """Have the child build its applier with ``factory`` from now on (after a rules reload)."""
        self.factory = factory  # a restarted child starts with it too
        await self._exchange(("reload", factory))

    async def stop(self) -> None:
        """Ask the child to close its connection and exit; kill it if it does not within 5 s."""
        if self._proc is None:
            return
        if self._streams is not None:
            data = pickle.dumps(("stop",))
            with contextlib.suppress(OSError):
                self._streams[1].write(struct.pack("!i", len(data)) + data)
                await self._streams[1].drain()
        await asyncio.to_thread(self._proc.join, 5)
        self._discard(StoreUnavailable("ingest process stopped"))


#: Seconds between two passive checkpoints of the ingest process. Small: a checkpoint's fsync stalls
#: the commits beside it for as long as it takes, which grows with what it copies (measured: p99 of
#: webhooks at 950 requests/s was 10–17 ms at 0.1 s, 17–82 ms at 0.5 s, 23–111 ms with checkpoints in
#: the commit path).
CHECKPOINT_EVERY = 0.1
#: WAL frames (pages) past which the ingest connection finishes a checkpoint itself, so that the WAL
#: starts over: 2 GiB with 4 KiB pages (see ``_Checkpoints``). Rare on purpose: it holds up the batches
#: behind it (measured at half load: p99 109 ms with 256 MiB, every few seconds; 6 ms when never).
RESTART_FRAMES = 524288


class _Checkpoints:
    """Checkpoints of the ingest process's database: a thread, and a catch-up by the ingest connection.

    The thread copies the WAL back into the database every ``CHECKPOINT_EVERY`` s with PASSIVE
    checkpoints, which hold up no one (SQLite releases the GIL while it works). Under a steady stream of
    commits they never reach the end of the WAL, and SQLite starts the WAL over only once every frame
    has been copied back: the file grows for as long as the stream lasts (655 MB after 7 s at 24,000
    alerts/s, measured), and starts over once it ends. So that a long storm cannot fill the disk, once
    the WAL is past ``restart_frames`` the thread runs two more rounds at once (each copies what came in
    during the one before) and then asks the ingest connection, which between two batches copies the
    few frames left; its next commit then writes at the top of the file again. Either way,
    ``journal_size_limit`` cuts the file back when it starts over.
    """

    def __init__(self, path: Path, restart_frames: int = RESTART_FRAMES) -> None:
        self.path = path
        self.restart_frames = restart_frames
        self.ready = False  #: the thread copied all but the last frames of a long WAL

    def start(self) -> None:
        """Start the checkpoint thread (a daemon: it ends with the process)."""
        threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def _run(self) -> None:
        from receiver.store.sqlite.store import connect

        conn = connect(self.path)
        while True:
            time.sleep(CHECKPOINT_EVERY)
            try:
                # fetchall: run the statement to its end, so that it holds no read transaction after.
                frames = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1]
                if frames >= self.restart_frames and not self.ready:
                    # Twice more: each copies what came in during the one before, so little is left.
                    for _ in range(2):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.ready = True
            except sqlite3.Error:  # busy or closing: the next round tries again
                continue

    def catch_up(self, db: sqlite3.Connection) -> None:
        """On the ingest connection, between batches: copy the last frames once the thread asks for it."""
        if not self.ready:
            return
        with contextlib.suppress(sqlite3.Error):
            busy = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][0]
            self.ready = bool(busy)  # busy: a reader or the thread's round is in the way; after the next batch


def _child_main(conn: Any, path: str, factory: ApplyFactory, init: Callable[[], None] | None,
                restart_frames: int, redact: Redactor = NO_REDACTION, heartbeat: str = "") -> None:
    # Ctrl-C reaches the whole process group; the parent decides when the child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from receiver.store.sqlite.store import IngestState, connect, ingest_batch  # the child's imports

    try:
        if init is not None:
            init()
        db = connect(Path(path))
        # Checkpoints copy the WAL back into the database and fsync it: done in a thread of their own
        # (which releases the GIL while SQLite works), not inside a commit that requests wait for.
        db.execute("PRAGMA busy_timeout=0")  # ingest_batch waits for the write lock in finer steps
        db.execute("PRAGMA wal_autocheckpoint=0")
        checkpoints = _Checkpoints(Path(path), restart_frames)
        checkpoints.start()
        apply = factory()
        gc.freeze()  # the modules and the rule set: a full collection need not walk them (see cli._serve)
    except Exception as e:  # noqa: BLE001 — reported to the parent, which refuses to start
        conn.send((False, f"{type(e).__name__}: {e}"))
        return
    conn.send((True, None))
    state = IngestState()
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            break
        kind = message[0]
        if kind == "stop":
            break
        try:
            if kind == "commit":
                batch = [([AlertRecord(*t) for t in alerts], now) for alerts, now in message[1]]
                conn.send((True, ingest_batch(db, batch, apply, state, redact, heartbeat)))
                checkpoints.catch_up(db)
            elif kind == "reload":
                factory = message[1]
                apply = factory()
                state.stale = True  # a new applier starts with nothing kept
                conn.send((True, None))
        except (sqlite3.Error, StoreUnavailable) as e:
            conn.send((False, e))
        except Exception as e:  # noqa: BLE001 — this batch's data (the parent retries it request by request)
            conn.send((False, StoreRejected(f"ingest process: {type(e).__name__}: {e}")))
    db.close()
