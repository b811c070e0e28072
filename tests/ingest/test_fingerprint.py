"""Alertmanager's label-set fingerprint, checked against fingerprints real Alertmanager 0.25 computed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from receiver.ingest.fingerprint import labelset_fingerprint
from tests.conftest import TESTDATA

# Bodies captured byte for byte from Alertmanager 0.25.0 (copied from the shared fixtures).
CAPTURED = sorted(TESTDATA.glob("am025-*.json"))
VECTORS = [(a["labels"], a["fingerprint"]) for p in CAPTURED for a in json.loads(Path(p).read_text())["alerts"]]


def test_there_are_enough_vectors() -> None:
    """The captured bodies give at least ten distinct label sets to check against."""
    assert len({fp for _, fp in VECTORS}) >= 10


@pytest.mark.parametrize(("labels", "fingerprint"), VECTORS, ids=[fp for _, fp in VECTORS])
def test_fingerprint_matches_alertmanager(labels: dict[str, str], fingerprint: str) -> None:
    """The fingerprint of an alert's labels is the one Alertmanager sent with it."""
    assert labelset_fingerprint(labels) == fingerprint


def test_fingerprint_is_zero_padded_to_16_hex_digits() -> None:
    """Every fingerprint is 16 lowercase hex digits, leading zeros kept (Go's %016x)."""
    fps = {labelset_fingerprint({"a": str(i)}) for i in range(5000)}
    assert all(len(fp) == 16 and fp == fp.lower() and int(fp, 16) >= 0 for fp in fps)
    assert any(fp.startswith("0") for fp in fps)


def test_label_order_does_not_change_the_fingerprint() -> None:
    """Names are sorted first: the same label set in another order has the same fingerprint."""
    assert labelset_fingerprint({"b": "2", "a": "1"}) == labelset_fingerprint({"a": "1", "b": "2"})
    assert labelset_fingerprint({"a": "12"}) != labelset_fingerprint({"a1": "2"})  # the 0xff separator
