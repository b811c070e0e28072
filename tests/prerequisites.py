"""What the suite needs outside Python, and the exact command that provides each missing part.

The whole suite runs against real parts: the Prometheus and Alertmanager binaries (Debian packages
``prometheus`` and ``prometheus-alertmanager``) and a PostgreSQL server. ``missing()`` lists the parts
this machine lacks; ``python -m tests.prerequisites`` (run by ``make test`` before pytest) prints them
with the command to run and exits 1, so a fresh machine stops with that command instead of skipping
tests. tests/conftest.py prints the same list in pytest's header and summary.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

#: The PostgreSQL the store and replica tests use (trust auth, database ``test``).
PG_URL = os.environ.get("RUNBOOKD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
#: Where tests/e2e/test_replicas.py finds initdb/pg_ctl for its private, stoppable server.
PG_BIN = Path("/usr/lib/postgresql/15/bin")
APT_TOOLS = "apt-get install -y prometheus prometheus-alertmanager"
#: The browser the console tests drive (tests/console/browser.py); Playwright downloads none.
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class Missing:
    """One part the machine lacks: ``what`` (a sentence) and ``fix`` (the command that provides it)."""

    what: str
    fix: str


def ci() -> bool:
    """Whether this run is CI (``CI`` set to anything but empty, ``0``, ``false`` or ``no``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pg_reachable(url: str = PG_URL, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to the URL's host and port succeeds within ``timeout`` seconds."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=timeout):
            return True
    except OSError:
        return False


def missing() -> list[Missing]:
    """The parts the suite needs that this machine lacks (empty when everything is there)."""
    out: list[Missing] = []
    for names, package in ((("prometheus",), "prometheus"), (("promtool",), "prometheus"),
                           (("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager"),
                           (("amtool",), "prometheus-alertmanager")):
        if not any(shutil.which(n) for n in names):
            out.append(Missing(f"{names[0]} is not on PATH (Debian package {package})", APT_TOOLS))
    if not CHROMIUM.exists():
        out.append(Missing(f"{CHROMIUM} is missing (the console's browser tests drive Debian's Chromium)",
                           "apt-get install -y chromium"))
    if not (PG_BIN / "initdb").exists():
        out.append(Missing(f"{PG_BIN}/initdb is missing (the replica tests start a private PostgreSQL)",
                           "apt-get install -y postgresql-15"))
    if not pg_reachable():
        netloc = urlsplit(PG_URL).netloc
        out.append(Missing(
            f"no PostgreSQL answers at {netloc} (user postgres, trust auth, database test; RUNBOOKD_TEST_PG "
            "overrides the URL)",
            "apt-get install -y postgresql-15 && pg_ctlcluster 15 main start && "
            "sed -i 's/scram-sha-256$/trust/' /etc/postgresql/15/main/pg_hba.conf && pg_ctlcluster 15 main reload "
            "&& createdb -h 127.0.0.1 -U postgres test"))
    return out


def describe(parts: list[Missing]) -> str:
    """The lines that tell a person what is missing and the commands to run, de-duplicated."""
    lines = [f"  - {m.what}" for m in parts]
    fixes = list(dict.fromkeys(m.fix for m in parts))
    return "\n".join(["missing for the test suite:", *lines, "run (as root):", *(f"  {f}" for f in fixes)])


def main() -> int:
    """Print what is missing with the commands to run; exit status 1 when anything is."""
    parts = missing()
    if not parts:
        return 0
    print(describe(parts), file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
