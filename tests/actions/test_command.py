"""CommandAction runs real processes (this test's Python interpreter as the allow-listed executable)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from receiver.actions.command import CommandAction
from receiver.config.command import CommandConfig
from receiver.errors import ActionError
from receiver.playbooks.render import render_value

PY = sys.executable
HOSTILE = (
    "$(touch /tmp/pwned); `id` && echo ${HOME} | cat > /tmp/x; 'single' \"double\" \\ * ? ~ "
    "{{ 7*7 }} {% raw %}{# c #} é ✓\n second line\t"
) + "x" * 10240


def action(**config: object) -> CommandAction:
    """A CommandAction allowing this interpreter (and whatever ``config`` adds)."""
    return CommandAction(CommandConfig(**{"allowed": [PY], **config}))  # type: ignore[arg-type]


def py(code: str, *args: str) -> dict[str, object]:
    """Rendered params running ``code`` with this interpreter and ``args``."""
    return {"argv": [PY, "-c", code, *args]}


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_hostile_label_value_arrives_as_exactly_one_argument() -> None:
    code = "import sys, json; print(json.dumps(sys.argv[1:]))"
    result = await action().run(py(code, HOSTILE, "second"), dry_run=False, timeout=10)
    assert result.outcome == "ok"
    assert json.loads(result.data["stdout"]) == [HOSTILE, "second"]
    assert result.data["exit_code"] == 0
    assert not Path("/tmp/pwned").exists()


async def test_ok_records_output_exit_code_and_argv() -> None:
    result = await action().run(py("print('hello'); import sys; print('warn', file=sys.stderr)"), dry_run=False,
                                timeout=10)
    assert result.outcome == "ok"
    assert result.summary.endswith("exited 0")
    assert result.data["stdout"] == "hello\n"
    assert result.data["stderr"] == "warn\n"
    assert result.data["argv"][0] == PY
    assert result.data["stdout_truncated"] is False


async def test_an_executable_outside_the_allow_list_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ActionError) as exc:
        await action().run({"argv": ["/usr/bin/touch", str(marker)]}, dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert "executable not allowed" in exc.value.reason
    assert not marker.exists()


async def test_a_relative_executable_is_refused_even_when_its_name_looks_allowed() -> None:
    with pytest.raises(ActionError) as exc:
        await action().run({"argv": [os.path.basename(PY), "-c", "pass"]}, dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert "not an absolute path" in exc.value.reason


async def test_an_allow_list_path_with_dot_dot_does_not_match_another_spelling() -> None:
    sneaky = os.path.join(os.path.dirname(PY), "..", "bin", os.path.basename(PY))
    with pytest.raises(ActionError) as exc:
        await action().run({"argv": [sneaky, "-c", "pass"]}, dry_run=False, timeout=5)
    assert "executable not allowed" in exc.value.reason


@pytest.mark.parametrize("argv", ["/bin/echo hi", [], None, ["/bin/echo", 3], [PY, "a\0b"]])
async def test_argv_must_be_a_list_of_strings(argv: object) -> None:
    with pytest.raises(ActionError) as exc:
        await action(allowed=[PY, "/bin/echo"]).run({"argv": argv}, dry_run=False, timeout=5)
    assert exc.value.retryable is False


async def test_the_allow_list_is_checked_in_dry_run_too() -> None:
    with pytest.raises(ActionError, match="executable not allowed"):
        await action().run({"argv": ["/bin/sh", "-c", "true"]}, dry_run=True, timeout=5)


async def test_dry_run_starts_nothing_and_shows_the_quoted_command_line(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()"
    result = await action().run(py(code, str(marker)), dry_run=True, timeout=5)
    assert result.outcome == "dry_run"
    assert result.summary == f"would run: {PY} -c '{code}' {marker}"
    assert result.data["argv"] == [PY, "-c", code, str(marker)]
    assert not marker.exists()


async def test_a_non_zero_exit_is_a_non_retryable_error_with_the_status_and_stderr() -> None:
    code = "import sys; print('partial'); sys.stderr.write('disk full'); sys.exit(3)"
    with pytest.raises(ActionError) as exc:
        await action().run(py(code), dry_run=False, timeout=10)
    assert exc.value.retryable is False
    assert "exited with status 3" in exc.value.reason
    assert "disk full" in exc.value.reason


async def test_a_command_killed_by_a_signal_says_so() -> None:
    with pytest.raises(ActionError) as exc:
        await action().run(py("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"), dry_run=False, timeout=10)
    assert "was killed by SIGTERM" in exc.value.reason


async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import threading; threading.Event().wait()'])\n"
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}')\n"
        "import threading; threading.Event().wait()\n"
    )
    started = time.monotonic()
    with pytest.raises(ActionError) as exc:
        await action().run(py(code, str(pids)), dry_run=False, timeout=1.5)
    assert time.monotonic() - started < 5
    assert exc.value.retryable is False
    assert "timed out after 1.5s; outcome unknown" in exc.value.reason
    parent, grandchild = (int(p) for p in pids.read_text().split())
    for _ in range(50):
        if not _alive(parent) and not _alive(grandchild):
            break
        await asyncio.sleep(0.05)
    assert not _alive(parent) and not _alive(grandchild)


async def test_the_configured_timeout_caps_the_steps_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(ActionError, match="timed out after 0.5s"):
        await action(timeout=0.5).run(py("import threading; threading.Event().wait()"), dry_run=False, timeout=60)
    assert time.monotonic() - started < 4


async def test_a_cancelled_step_leaves_no_process_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = ("import os, sys, threading; open(sys.argv[1], 'w').write(str(os.getpid())); "
            "threading.Event().wait()")
    task = asyncio.ensure_future(action().run(py(code, str(pid_file)), dry_run=False, timeout=60))
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(int(pid_file.read_text()))


async def test_output_beyond_the_limit_is_dropped_and_marked() -> None:
    code = "import sys; sys.stdout.write('o' * 100000); sys.stderr.write('e' * 5000)"
    result = await action(max_output_bytes=1000).run(py(code), dry_run=False, timeout=10)
    assert result.data["stdout"] == "o" * 1000 and result.data["stdout_truncated"] is True
    assert result.data["stderr"] == "e" * 1000 and result.data["stderr_truncated"] is True


async def test_invalid_utf8_output_is_replaced_not_fatal() -> None:
    result = await action().run(py("import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe')"), dry_run=False, timeout=10)
    assert result.data["stdout"] == "ok \ufffd\ufffd"


async def test_runbookds_environment_is_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBOOKD_TEST_SECRET", "s3cret-value")
    monkeypatch.setenv("TRADING_ADMIN_TOKEN", "trading-token")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    result = await action(env={"TRADING_ENV": "paper"}).run(py(code), dry_run=False, timeout=10)
    env = json.loads(result.data["stdout"])
    assert "RUNBOOKD_TEST_SECRET" not in env and "TRADING_ADMIN_TOKEN" not in env
    assert "s3cret-value" not in result.data["stdout"]
    assert env["PATH"] == "/usr/bin:/bin"
    assert env["TRADING_ENV"] == "paper"


async def test_stdin_is_empty_and_the_working_directory_is_root() -> None:
    code = "import os, sys; print(repr(sys.stdin.read()), os.getcwd())"
    result = await action().run(py(code), dry_run=False, timeout=10)
    assert result.data["stdout"] == "'' /\n"


async def test_an_allow_listed_path_that_does_not_exist_cannot_start(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(ActionError) as exc:
        await action(allowed=[missing]).run({"argv": [missing]}, dry_run=False, timeout=5)
    assert exc.value.retryable is False
    assert "cannot start" in exc.value.reason


def test_an_empty_config_allows_nothing() -> None:
    assert CommandConfig().allowed == []


@pytest.mark.parametrize(
    ("allowed", "message"),
    [
        (["python3"], "is not an absolute path"),
        (["/usr/bin/../bin/sh"], "is not normalised"),
        (["/bin/"], "is not normalised"),
    ],
)
def test_the_allow_list_holds_only_absolute_normalised_paths(allowed: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CommandConfig(allowed=allowed)


def test_config_durations_and_unknown_keys() -> None:
    assert CommandConfig.model_validate({"timeout": "2m"}).timeout == 120.0
    with pytest.raises(ValidationError):
        CommandConfig.model_validate({"allow": ["/bin/true"]})


def test_command_action_is_not_idempotent() -> None:
    assert CommandAction.idempotent is False


async def test_a_background_child_holding_the_output_open_does_not_hold_up_the_step(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import threading; threading.Event().wait()'])\n"
        "open(sys.argv[1], 'w').write(str(child.pid))\n"
        "print('started')\n"
    )
    started = time.monotonic()
    try:
        result = await action().run(py(code, str(pid_file)), dry_run=False, timeout=10)
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)
    assert result.outcome == "ok"
    assert result.data["stdout"] == "started\n"
    assert time.monotonic() - started < 5


async def test_a_hostile_label_rendered_into_argv_stays_one_literal_argument() -> None:
    """The playbook renders the rule file's argv over the alert; the label's own ``{{ }}`` is not rendered."""
    step_argv = [PY, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", "--instance",
                 "{{ alert.labels.instance }}"]
    params = render_value({"argv": step_argv}, {"alert": {"labels": {"instance": HOSTILE}}})
    result = await action().run(params, dry_run=False, timeout=10)
    assert json.loads(result.data["stdout"]) == ["--instance", HOSTILE]
