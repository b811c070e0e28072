"""What ``simulate`` says about a step's ``if``, ``until`` and ``wait``: branches and waits, without I/O.

An ``if`` over earlier steps' results cannot be known before they run: the plan says which steps it
depends on. One over the alert, incident, vars and time intervals (the calendar) is evaluated at the
step's instant; one over ``calendar.market_open`` (a broker read) is shown as depending on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from receiver.durations import format_duration
from receiver.errors import ActionError
from receiver.playbooks import conditions, until
from receiver.playbooks.gates import BrokerReads
from receiver.rules.model import StepModel, WaitStep


def branch_and_verify(step: StepModel, ctx: dict[str, Any],
                      in_interval: Callable[[str, float], bool] | None, now: float,
                      known: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plan entries for one step: ``branch`` (``{"if", "taken": bool | None, "because"}``), ``verify``
    (``{"condition", "interval", "timeout", "read"}`` as text) and ``wait`` (a duration as text).
    ``known``: the results stated so far (``receiver.simulate.given``), which an ``if`` may use."""
    out: dict[str, Any] = {}
    known = known or {}
    expr = step.if_
    if expr:
        deps = [d for d in conditions.depends_on(expr) if d not in known]
        if deps:
            out["branch"] = {"if": expr, "taken": None,
                             "because": "depends on " + ", ".join(f"step {d}'s result" for d in deps)}
        elif "market_open" in expr:
            out["branch"] = {"if": expr, "taken": None, "because": "depends on the market clock at run time"}
        else:
            try:
                ctx2 = {k: v for k, v in ctx.items() if k != "secrets"}
                ctx2.update(steps=conditions.steps_view(known), result={},
                            calendar=conditions.CalendarView(BrokerReads(in_interval=in_interval), now, None))
                taken = conditions.holds(expr, ctx2)
                because = "evaluated at this instant" + (" over the stated results" if known else "")
                out["branch"] = {"if": expr, "taken": taken, "because": because}
            except ActionError as e:
                out["branch"] = {"if": expr, "taken": None, "because": e.reason}
    spec = until.spec_of(step)
    if spec is not None:
        out["verify"] = {"condition": spec.condition, "interval": format_duration(spec.interval),
                         "timeout": format_duration(spec.timeout),
                         "read": (spec.read or {}).get("url") if spec.read else ("built in" if spec.builtin
                                                                                  else "the step again")}
    if isinstance(step, WaitStep):
        out["wait"] = format_duration(step.duration)
    return out
