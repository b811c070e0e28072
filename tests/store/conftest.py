"""The store contract suite runs every test against each backend (``store`` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from receiver.store import SqliteStore


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """An opened, empty store of each backend."""
    s = SqliteStore(tmp_path / "contract.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()
