"""``runbookd oncall [--at TIME] [SCHEDULE]``: who is on call and until when, with the store's overrides."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from receiver.cli import main
from receiver.store import oncall as rows
from receiver.store import open_store
from receiver.store.oncall import OverrideRow
from tests.conftest import TESTDATA

AT = "2027-01-15T08:00:00Z"
T = 1_800_000_000.0


def config(tmp_path: Path) -> Path:
    p = tmp_path / "runbookd.yml"
    p.write_text(f"storage: sqlite:///{tmp_path}/rb.db\nrule_files: [{TESTDATA / 'rules' / 'oncall.yml'}]\n")
    return p


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_it_prints_each_schedules_person_and_until(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every schedule at --at, one line each; a named schedule alone."""
    cfg = str(config(tmp_path))
    code, out, _ = run(capsys, "oncall", "--config", cfg, "--at", AT)
    assert (code, out) == (0, "primary: bob until 2027-01-15T09:00:00.000Z (layer:daily)\n"
                              "secondary: carol with no change ahead (layer:weekly)\n")
    code, out, _ = run(capsys, "oncall", "--config", cfg, "--at", "2027-01-15T09:00:00Z", "primary")
    assert (code, out) == (0, "primary: alice until 2027-01-16T09:00:00.000Z (layer:daily)\n")


def test_it_reads_overrides_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An override stored for primary names its person until its end."""
    cfg = config(tmp_path)

    async def add() -> None:
        store = open_store(f"sqlite:///{tmp_path}/rb.db", base_dir=str(tmp_path))
        await store.open()
        try:
            await store.transaction(lambda tx: rows.insert(tx, OverrideRow("ov-1", "primary", "erin", T - 60, T + 600,
                                                                           "", "ada", T - 60)))
        finally:
            await store.close()

    asyncio.run(add())
    code, out, _ = run(capsys, "oncall", "--config", str(cfg), "--at", AT, "primary")
    assert (code, out) == (0, "primary: erin until 2027-01-15T08:10:00.000Z (override:ov-1)\n")


def test_an_unknown_schedule_or_a_bad_time_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown schedule exits 1 naming the known ones; --at without a zone is a usage error (2)."""
    cfg = str(config(tmp_path))
    code, _, err = run(capsys, "oncall", "--config", cfg, "nope")
    assert code == 1 and "unknown schedule 'nope' (known: primary, secondary)" in err
    with pytest.raises(SystemExit) as e:
        main(["oncall", "--config", cfg, "--at", "2027-01-15T08:00:00"])
    assert e.value.code == 2
