"""A playbook step between its work row and the runner: parsed into its model once, rendered to params.

Work rows store steps as JSON dicts (``receiver.rules.model.dump_step``, so a running playbook keeps
its rules version); the runner and the simulation parse the current one back into the ``Step`` union
with ``current`` and pass the model on. Only an action's own keys become its parameters (``params``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receiver.rules.model import StepModel, dump_step, parse_step

#: Step keys (as stored) that are not action parameters.
PARAM_SKIP = frozenset({"name", "action", "timeout", "approval", "when", "on_failure", "rate_limit", "destructive",
                        "if", "until", "on_skip", "verify", "verify_interval", "verify_timeout"})


def current(payload: Mapping[str, Any]) -> StepModel:
    """The step model of the row's ``payload["steps"][payload["index"]]``. Raises
    ``pydantic.ValidationError`` when the stored step does not parse (an unknown action)."""
    return parse_step(payload["steps"][payload["index"]])


def stored_field(payload: Mapping[str, Any], key: str) -> str:
    """One key of the row's current stored step as text (``""`` when missing): for the record of a
    step that does not parse, and for listings that only show a row's step name."""
    raw = payload["steps"][payload["index"]]
    return str(raw.get(key, "")) if isinstance(raw, Mapping) else ""


def params(step: StepModel) -> dict[str, Any]:
    """The step's action parameters before rendering: its stored keys but ``PARAM_SKIP``."""
    return {k: v for k, v in dump_step(step).items() if k not in PARAM_SKIP}
