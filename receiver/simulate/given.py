"""What a rule unit test states instead of a run: approvals' answers and steps' results (``runbookd test``).

The plan assumes each step succeeds and each approval is granted. A case may say otherwise:
``approvals: {step: approved | rejected | timed_out}`` and ``results: {step: {outcome, summary, data}}``.
A stated result is what later steps' templates and conditions see (``steps.NAME.result``); an ``if``
over a stated result is evaluated, one over an assumed result is shown as depending on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from receiver.rules.model import StepModel


@dataclass(frozen=True)
class Given:
    """A case's statements: ``approvals`` (step name → ``approved``/``rejected``/``timed_out``) and
    ``results`` (step name → ``{"outcome", "summary", "data"}``)."""

    approvals: Mapping[str, str] = field(default_factory=dict)
    results: Mapping[str, dict[str, Any]] = field(default_factory=dict)


def decide(step: StepModel, given: Given) -> tuple[str, str, dict[str, Any] | None]:
    """A step's outcome in the plan: ``(result, why, known)``. ``result`` is ``ok``, ``rejected``,
    ``failed`` or ``skipped``; ``known`` is the result later steps see when the case stated it (or an
    approval decided it), else None (assumed ok)."""
    name = step.name
    appr = step.approval
    answer = given.approvals.get(name)
    if appr is not None and answer is not None:
        verdict = answer if answer != "timed_out" else ("approved" if appr.on_timeout == "approve" else "rejected")
        if verdict == "rejected":
            why = "approval timed out: rejected by default" if answer == "timed_out" else "rejected (stated)"
            return "rejected", why, {"outcome": "rejected", "summary": why, "data": {}}
    if name in given.results:
        r = given.results[name]
        known = {"outcome": r.get("outcome", "ok"), "summary": r.get("summary", ""), "data": dict(r.get("data") or {})}
        return str(known["outcome"]), known["summary"] or f"{known['outcome']} (stated)", known
    if appr is not None and answer is not None:
        return "ok", f"approved ({answer})", None
    return "ok", "", None
