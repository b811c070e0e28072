"""``action: command`` — runs one allow-listed executable with an argv list; never a shell.

Parameters arrive already rendered by the playbook: ``argv`` is a list of strings and each item is
passed to ``execve`` as exactly one argument (``loop.subprocess_exec``, as under
``asyncio.create_subprocess_exec``; never ``shell=True``): nothing is split,
globbed, expanded or quoted, so a label value such as ``$(rm -rf /); {{ 7*7 }}`` reaches the program
as those very characters. ``argv[0]`` must be an absolute path listed in ``command.allowed``
(``receiver.config.command.CommandConfig``).

The child gets ``stdin`` from ``/dev/null``, ``/`` as its working directory, its own session (so a
time-out kills it and everything it started with one ``killpg``) and an environment of only
``PATH=/usr/bin:/bin`` plus ``command.env``: runbookd's environment, secrets included, is not inherited.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from receiver.actions.base import ActionResult
from receiver.config.command import CommandConfig
from receiver.errors import ActionError

#: The ``PATH`` a command starts with (``command.env`` may replace it).
DEFAULT_PATH = "/usr/bin:/bin"
#: Characters of stderr quoted in an error reason.
_STDERR_EXCERPT = 500
#: Characters of the command line shown in a summary.
_SHOWN = 1000
#: Seconds to wait for the output pipes to close once the process has exited (a background child
#: may still hold them); the output read so far is kept.
_DRAIN_GRACE = 1.0


@dataclass
class _Capture:
    """Output of one stream, kept up to ``limit`` bytes; filled as it arrives so a time-out keeps it."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def add(self, chunk: bytes) -> None:
        """Keep what fits in ``limit``; the rest is dropped (still read, so the child never blocks)."""
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        if len(chunk) > room:
            self.truncated = True

    def text(self) -> str:
        """The kept bytes decoded as UTF-8, invalid sequences replaced (U+FFFD)."""
        return self.data.decode("utf-8", errors="replace")


class _Protocol(asyncio.SubprocessProtocol):
    """Collects stdout/stderr into ``_Capture``s and says when the process exited and the pipes closed.

    ``Process.wait()`` of Python 3.11 returns only once the pipes are closed too, so a background
    grandchild holding stdout would look like a hung command; the exit is tracked on its own here.
    """

    def __init__(self, out: _Capture, err: _Capture) -> None:
        self._captures = {1: out, 2: err}
        self._open = {1, 2}
        self.exited = asyncio.Event()
        self.pipes_closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        """Keep output of fd 1 (stdout) and 2 (stderr)."""
        if fd in self._captures:
            self._captures[fd].add(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        """Note a closed pipe; both closed sets ``pipes_closed``."""
        self._open.discard(fd)
        if not self._open:
            self.pipes_closed.set()

    def process_exited(self) -> None:
        """The child exited (or was killed): set ``exited``."""
        self.exited.set()


def command_line(argv: list[str]) -> str:
    """``argv`` as a POSIX shell would need it quoted (``shlex.join``), cut to 1000 characters.

    For display only: the command itself is never run through a shell.
    """
    shown = shlex.join(argv)
    if len(shown) > _SHOWN:
        return f"{shown[:_SHOWN]}… ({len(shown) - _SHOWN} more characters)"
    return shown


class CommandAction:
    """Runs ``params["argv"]`` (a list of strings) without a shell, bounded by a timeout.

    ``idempotent`` is False: a command may not be safe to repeat, so a step cut off by a crash is
    recorded as "outcome unknown" unless the step itself declares it idempotent.
    """

    idempotent = False

    def __init__(self, config: CommandConfig) -> None:
        self._config = config
        self._allowed = frozenset(config.allowed)

    def _check(self, params: dict[str, Any]) -> list[str]:
        """The validated argv; raises ``ActionError`` (not retryable) for anything that may not run."""
        argv = params.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ActionError(
                "argv must be a non-empty list of strings, one item per argument"
                " (a command line string is never split)",
                retryable=False,
            )
        for i, arg in enumerate(argv):
            if "\0" in arg:
                raise ActionError(f"argv[{i}] contains a NUL byte", retryable=False)
        exe = argv[0]
        if not os.path.isabs(exe):
            raise ActionError(f"executable not allowed: {exe!r} is not an absolute path", retryable=False)
        if exe not in self._allowed:
            raise ActionError(f"executable not allowed: {exe!r} is not in command.allowed", retryable=False)
        return argv

    async def run(self, params: dict[str, Any], *, dry_run: bool, timeout: float) -> ActionResult:
        """Run ``params["argv"]``; ``timeout`` (seconds) is capped by ``command.timeout``.

        Returns ``ActionResult("ok", "<command line> exited 0", data)`` with ``data``:
        ``exit_code``, ``stdout``, ``stderr`` (each the first ``command.max_output_bytes`` bytes,
        UTF-8 with replacement), ``stdout_truncated``, ``stderr_truncated``, ``argv``,
        ``duration`` (seconds). In dry-run nothing is started:
        ``ActionResult("dry_run", "would run: <shlex.join(argv)>", {"argv"})``.

        Raises ``ActionError``, never retryable: argv malformed or ``argv[0]`` not an absolute
        allow-listed path ("executable not allowed", checked in dry-run too); the program cannot
        be started; a non-zero exit or a signal (reason with the status and the end of stderr);
        the time-out ("timed out after Ns; outcome unknown": the whole process group is killed).
        """
        argv = self._check(params)
        shown = command_line(argv)
        if dry_run:
            return ActionResult("dry_run", f"would run: {shown}", {"argv": argv})

        limit = min(float(timeout), self._config.timeout)
        env = {"PATH": DEFAULT_PATH, **self._config.env}
        out = _Capture(self._config.max_output_bytes)
        err = _Capture(self._config.max_output_bytes)
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(out, err),
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
        except OSError as e:
            raise ActionError(f"cannot start {argv[0]}: {e.strerror or e}", retryable=False) from e

        pid = transport.get_pid()
        try:
            try:
                async with asyncio.timeout(limit):
                    await protocol.exited.wait()
            except TimeoutError:
                _kill_group(pid)
                await protocol.exited.wait()
                excerpt = _tail(err.text())
                raise ActionError(
                    f"{argv[0]} timed out after {limit:g}s; outcome unknown" + (f": {excerpt}" if excerpt else ""),
                    retryable=False,
                ) from None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_DRAIN_GRACE):
                    await protocol.pipes_closed.wait()
        finally:
            if transport.get_returncode() is None:  # cancelled: leave nothing running behind us
                _kill_group(pid)
                await asyncio.shield(protocol.exited.wait())
            transport.close()

        code = transport.get_returncode()
        data: dict[str, Any] = {
            "exit_code": code,
            "stdout": out.text(),
            "stderr": err.text(),
            "stdout_truncated": out.truncated,
            "stderr_truncated": err.truncated,
            "argv": argv,
            "duration": round(time.monotonic() - started, 3),
        }
        if code != 0:
            excerpt = _tail(err.text())
            raise ActionError(f"{argv[0]} {_status(code)}" + (f": {excerpt}" if excerpt else ""), retryable=False)
        return ActionResult("ok", f"{shown} exited 0", data)


def _kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (the child started its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _status(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with status {code}"


def _tail(text: str) -> str:
    """The last 500 characters of ``text``, stripped, marked when cut."""
    text = text.strip()
    return text if len(text) <= _STDERR_EXCERPT else "…" + text[-_STDERR_EXCERPT:]
