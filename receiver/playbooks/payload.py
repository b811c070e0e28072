"""The payload of a playbook run's first step row (shared by incident opening and ``on_resolved``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from receiver.model import Incident
from receiver.rules import CompiledRule, RuleSet
from receiver.rules.model import StepModel, dump_step


def playbook_payload(rules: RuleSet, rule: CompiledRule, inc: Incident, steps: Sequence[StepModel], phase: str,
                     epoch: int = 0) -> dict[str, Any]:
    """The first step row's payload: a copy of the steps (a reload never changes a playbook in flight),
    the rule's limits and mode, and the key prefix of the rows of this run."""
    prefix = f"step:{inc.id}" if phase == "main" else f"rstep:{inc.id}:{epoch}"
    return {
        "playbook": rule.playbook, "index": 0, "phase": phase, "key_prefix": prefix,
        "steps": [dump_step(s) for s in steps],
        "rules_version": rules.version, "rule": rule.name, "identity": inc.identity, "mode": rule.mode,
        "rule_rate_limit": rule.rate_limit.model_dump(mode="json") if rule.rate_limit else None,
        "cooldown": rule.cooldown, "during_maintenance": rule.during_maintenance,
    }
