"""``runbookd audit verify|export`` and ``runbookd token create|list|revoke`` on a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from receiver.cli import main
from tests.conftest import ROOT, alert, payload

DOC = ROOT / "docs" / "audit.md"


def config(tmp_path: Path) -> Path:
    p = tmp_path / "runbookd.yml"
    p.write_text(f"storage: sqlite:///{tmp_path}/rb.db\nrule_files: []\n"
                 "access:\n  people:\n    - {name: alice, role: admin, slack_users: [U0ALICE]}\n")
    return p


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def doc_verifier(tmp_path: Path) -> Path:
    """The verifier program of docs/audit.md, exactly as printed there."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    path = tmp_path / "verify.py"
    path.write_text(code.group(1))
    return path


def test_a_fresh_store_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty, freshly migrated store's chain verifies: exit 0."""
    cfg = str(config(tmp_path))
    assert run(capsys, "migrate", "--config", cfg)[0] == 0
    code, out, _ = run(capsys, "audit", "verify", "--config", cfg)
    assert code == 0 and "0 record(s)" in out


def test_token_is_shown_once_and_only_its_hash_is_stored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``token create`` prints the token once; the database and ``token list`` never hold it; revoke marks it."""
    cfg = str(config(tmp_path))
    code, out, _ = run(capsys, "token", "create", "alice", "--config", cfg)
    secret = out.strip()
    assert code == 0 and secret.startswith("rbk_")
    tid = secret.split("_")[1]
    code, listing, _ = run(capsys, "token", "list", "--config", cfg)
    assert code == 0 and tid in listing and "alice" in listing and secret not in listing and "valid" in listing
    assert secret.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("rb.db*"))
    assert run(capsys, "token", "revoke", tid, "--config", cfg)[0] == 0
    assert "revoked" in run(capsys, "token", "list", "--config", cfg)[1]
    assert run(capsys, "token", "revoke", tid, "--config", cfg)[0] == 1
    code, out, _ = run(capsys, "audit", "export", "--config", cfg)
    assert [json.loads(line)["action"] for line in out.splitlines()] == ["token.created", "token.revoked"]


def test_token_for_an_unknown_person_needs_a_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A token names a declared person, or is a service token with an explicit ``--role``."""
    cfg = str(config(tmp_path))
    code, _, err = run(capsys, "token", "create", "mallory", "--config", cfg)
    assert code == 1 and "not a person" in err
    assert run(capsys, "token", "create", "ci-reloader", "--role", "admin", "--config", cfg)[0] == 0


async def test_end_to_end_chain_verifies_exports_and_names_an_edit(make_runbookd: Any, fakes: Any,
                                                                    tmp_path: Path) -> None:
    """After an incident's life the chain verifies (CLI and the documented verifier on an export);
    an edited row (trigger dropped first) makes ``audit verify`` exit 1 naming its seq."""
    rb = await make_runbookd(fakes)
    assert (await rb.post_alerts(payload(alert()))).status == 200
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    assert (await rb.api_post(f"/api/v1/incidents/{inc['id']}/ack")).status == 200
    await rb.run()
    cfg = tmp_path / "cli.yml"
    cfg.write_text(f"storage: sqlite:///{tmp_path}/rb.db\nrule_files: []\n")

    def cli(*args: str) -> tuple[int, str, str]:
        cmd = [sys.executable, "-m", "receiver", *args, "--config", str(cfg)]
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    code, out, err = await asyncio.to_thread(cli, "audit", "verify")
    assert code == 0, err
    code, export, _ = await asyncio.to_thread(cli, "audit", "export")
    records = [json.loads(line) for line in export.splitlines()]
    actions = [r["action"] for r in records]
    assert {"alert.firing", "incident.opened", "incident.acknowledged"} <= set(actions)
    assert next(r for r in records if r["action"] == "incident.acknowledged")["actor"] == "admin-token"
    (tmp_path / "audit.jsonl").write_text(export)
    verifier = doc_verifier(tmp_path)
    ok = subprocess.run([sys.executable, str(verifier), str(tmp_path / "audit.jsonl")], capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.strip() == "ok", ok.stderr

    victim = records[2]["seq"]
    conn = sqlite3.connect(tmp_path / "rb.db")
    conn.execute("DROP TRIGGER audit_log_append_only_update")
    conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = ?", (victim,))
    conn.commit()
    conn.close()
    code, _, err = await asyncio.to_thread(cli, "audit", "verify")
    assert code == 1 and f"seq {victim}" in err
    _, edited, _ = await asyncio.to_thread(cli, "audit", "export")
    (tmp_path / "edited.jsonl").write_text(edited)
    bad = subprocess.run([sys.executable, str(verifier), str(tmp_path / "edited.jsonl")], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and f"seq {victim}" in bad.stderr
