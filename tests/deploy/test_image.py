"""The container image (Dockerfile): non-root, HEALTHCHECK on a real route, only repository files copied,
and runbookd itself working on a read-only root filesystem with /tmp and its data directory writable.

No Docker engine runs here: the Dockerfile is read instruction by instruction, and the read-only root is
reproduced with a private mount namespace (``unshare``) in which ``/`` is remounted read-only."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import prerequisites
from tests.conftest import FIXTURES, ROOT
from tests.deploy.conftest import dockerfile_stages, image_env
from tests.e2e.harness import CONFIG_VARS, Service, free_port
from tests.test_docs import routes


def final() -> list:  # type: ignore[type-arg]
    return dockerfile_stages()[-1]


def test_the_image_runs_as_an_unprivileged_user() -> None:
    """The final stage creates a system user with a non-zero uid and switches to it; nothing switches back."""
    stage = final()
    users = [ins.args.split(":")[0] for ins in stage if ins.keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    useradd = next(ins.args for ins in stage if ins.keyword == "RUN" and "useradd" in ins.args)
    assert re.search(rf"\b{users[-1]}$", useradd.strip()), useradd
    assert int(re.search(r"--uid (\d+)", useradd).group(1)) > 0  # type: ignore[union-attr]


def test_every_copied_file_is_in_the_build_context() -> None:
    """Each COPY source exists and is not excluded by .dockerignore, so `docker build .` finds it."""
    ignored = [ln.strip() for ln in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if ln.strip() and not ln.startswith("#")]
    bad = []
    for stage in dockerfile_stages():
        for ins in stage:
            if ins.keyword != "COPY" or "--from" in ins.args:
                continue
            for src in ins.words()[:-1]:
                if not (ROOT / src).exists():
                    bad.append(f"COPY {src}: not in the repository")
                if any(fnmatch.fnmatch(src, pat.removeprefix("**/")) or src.startswith(pat + "/") for pat in ignored):
                    bad.append(f"COPY {src}: excluded by .dockerignore")
    assert not bad, "\n".join(bad)


def test_the_database_lives_on_the_declared_volume() -> None:
    """RUNBOOKD_STORAGE of the image is a SQLite file inside the image's VOLUME, its working directory."""
    env = image_env(final())
    [volume] = [ins.words()[0] for ins in final() if ins.keyword == "VOLUME"]
    assert env["RUNBOOKD_STORAGE"].startswith(f"sqlite:///{volume}/")
    assert [ins.args for ins in final() if ins.keyword == "WORKDIR"][-1] == volume
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"  # nothing written beside the code


def _can_unshare() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare is not installed (apt-get install util-linux)"
    got = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True,
                         check=False)
    return None if got.returncode == 0 else f"cannot make a mount namespace here: {got.stderr.strip()}"


#: Inside a private mount namespace: keep /tmp writable (a tmpfs in the container), make / read-only,
#: prove it is (``$0``, a file on the root filesystem outside /tmp, cannot be created), then run the command.
SANDBOX = r"""
mount --bind /tmp /tmp && mount -o remount,bind,ro / || exit 96
if touch "$0" 2>/dev/null; then rm -f "$0"; echo "root is writable"; exit 97; fi
exec "$@"
"""


PROBE = "/var/tmp/.runbookd-read-only-probe"


class ReadOnlyRunbookd(Service):
    """``runbookd serve`` of the shipped config, as the image runs it, on a read-only root filesystem."""

    name = "runbookd-ro"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, free_port())
        self.data = workdir / "data"
        self.data.mkdir()

    def argv(self) -> list[str]:
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", SANDBOX, PROBE,
                sys.executable, "-m", "receiver", "serve", "--config", str(ROOT / "runbookd.yml")]

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
        return {**base, **image_env(final()), "RUNBOOKD_LISTEN": f"127.0.0.1:{self.port}",
                "RUNBOOKD_STORAGE": f"sqlite:///{self.data}/runbookd.db", "HOME": str(self.data),
                "PYTHONPATH": str(ROOT)}

    def cwd(self) -> Path:
        return self.data


def _healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, with this Python, for a runbookd whose RUNBOOKD_LISTEN has ``port``."""
    [hc] = [ins for ins in final() if ins.keyword == "HEALTHCHECK"]
    argv = json.loads(hc.args.split(" CMD ", 1)[1])  # exec form: a JSON array
    assert argv[0] == "python"
    return subprocess.run([sys.executable, *argv[1:]], env={**os.environ, "RUNBOOKD_LISTEN": f"0.0.0.0:{port}"},
                          capture_output=True, text=True, timeout=30, check=False)


def test_runbookd_serves_on_a_read_only_root_and_the_healthcheck_sees_it(tmp_path: Path) -> None:
    """On a read-only root with /tmp writable, `runbookd serve` (SQLite with its ingest process, as the
    image defaults) gets ready, stores a captured Alertmanager body in the data directory, and the
    image's HEALTHCHECK (GET /-/healthy, a route of the app) passes; once it stops, the check fails."""
    reason = _can_unshare()
    if reason is not None:
        if prerequisites.ci():
            pytest.fail(f"{reason}; CI must run this test")
        pytest.skip(reason)
    [hc] = [ins for ins in final() if ins.keyword == "HEALTHCHECK"]
    assert "/-/healthy" in hc.args and "GET" in routes()["/-/healthy"]
    rb = ReadOnlyRunbookd(tmp_path)
    try:
        rb.start(timeout=60)
        body = (FIXTURES / "003-hook-default-group-firing-3a.json").read_bytes()
        r = rb.http.post(f"{rb.url}/webhook/alertmanager", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text + rb.logs(40)
        assert (rb.data / "runbookd.db").exists()
        ok = _healthcheck(rb.port)
        assert ok.returncode == 0, ok.stderr
    finally:
        rb.close()
    assert "root is writable" not in rb.logs().splitlines()
    assert _healthcheck(rb.port).returncode != 0
