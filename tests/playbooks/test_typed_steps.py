"""Steps are models past the loader: no dict access on a step anywhere in ``receiver/`` (docs/architecture.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from receiver.playbooks.steps import current, params
from receiver.rules.model import HttpStep, Playbook, dump_step

ROOT = Path(__file__).resolve().parents[2] / "receiver"
_DICT_ACCESS = re.compile(r"\bstep\[[\"']|\bstep\.get\(")


def test_no_step_is_read_as_a_dict_in_receiver() -> None:
    """``step["…"]`` / ``step.get(…)`` would mean a stored step dict travelled past the row boundary."""
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in sorted(ROOT.rglob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if _DICT_ACCESS.search(line)]
    assert hits == []


def test_a_stored_step_parses_back_into_the_same_model() -> None:
    """The row format is unchanged: the dump of a loaded step parses back into an equal model."""
    pb = Playbook.model_validate({"steps": [{"name": "h", "action": "http", "url": "https://x", "method": "GET",
                                             "if": "alert.labels.a == 'b'", "json": {"k": "{{ alert.labels.a }}"}}]})
    stored = dump_step(pb.steps[0])
    got = current({"steps": [stored], "index": 0})
    assert isinstance(got, HttpStep) and got == pb.steps[0]
    assert params(got)["json"] == {"k": "{{ alert.labels.a }}"} and "if" not in params(got)


def test_an_old_row_without_default_keys_still_parses() -> None:
    """A row written with only the keys an operator wrote (no defaults dumped) gets the defaults."""
    got = current({"steps": [{"name": "w", "action": "wait", "duration": 30}], "index": 0})
    assert got.action == "wait" and got.timeout == 10.0 and got.on_failure is None


def test_an_unknown_action_in_a_stored_row_is_a_validation_error() -> None:
    """The runner turns this into a failed, paged step (``PlaybookRunner._unparsable``)."""
    with pytest.raises(ValidationError):
        current({"steps": [{"name": "x", "action": "gone.away"}], "index": 0})
