"""What stands between a step and its side effect: pause, limits, preconditions, approvals.

Each gate answers ``None`` (go on) or a ``Refusal`` saying why the step does not run. The limit
gate also *reserves* its slot: the check and the record of the execution commit in one
transaction (under a lock on PostgreSQL), so two replicas cannot both take the last slot.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from receiver.clock import iso
from receiver.durations import format_duration
from receiver.maintenance.windows import covering
from receiver.rules.model import StepModel
from receiver.rules.safety import Precondition
from receiver.store import maintenance as windows

PAUSE_KEY = "automation.paused"
#: Actions whose side effect cannot be taken back: they count against the destructive budget.
DESTRUCTIVE = frozenset({"alpaca.cancel_all_orders", "alpaca.close_all_positions", "alpaca.close_position",
                         "command"})


@dataclass(frozen=True)
class Refusal:
    """Why a step did not run: ``outcome`` (``skipped`` / ``rejected``), ``reason``, and whether a limit
    bit (``limit``: such refusals are always paged)."""

    outcome: str
    reason: str
    limit: bool = False
    stop: bool = False


def paused(tx: Any) -> dict[str, Any] | None:
    """The automation pause (``{"by", "at", "reason"}``) or ``None`` when automation runs."""
    raw = tx.get_state(PAUSE_KEY)
    return json.loads(raw) if raw else None


def set_paused(tx: Any, pause: dict[str, Any] | None) -> None:
    """Pause (a dict) or resume (``None``) automation for every replica."""
    tx.set_state(PAUSE_KEY, json.dumps(pause) if pause is not None else None)


def is_destructive(step: StepModel) -> bool:
    """Whether ``step`` counts against the destructive budget (its ``destructive``, else its action's)."""
    return step.destructive if step.destructive is not None else step.action in DESTRUCTIVE


PLAYBOOK_RUN = "playbook.run"


def maintenance_gate(tx: Any, incident: Any, now: float, during: str) -> Refusal | None:
    """A step while maintenance windows cover the incident: skipped unless its rule says
    ``during_maintenance: run`` (``during``); the incident is still recorded and its pages are muted."""
    if during == "run":
        return None
    cover = covering(windows.current(tx, now), incident, now)
    if not cover:
        return None
    named = ", ".join(f"{w.id} ({w.reason}, until {iso(w.ends_at)})" for w in cover)
    return Refusal("skipped", f"maintenance window {named} covers this incident: not run "
                   "(the rule may say during_maintenance: run)")


def playbook_gate(tx: Any, *, now: float, payload: dict[str, Any], incident_id: str) -> Refusal | None:
    """Before a playbook's first step: the rule's ``rate_limit`` and ``cooldown`` (per identity).

    Allowed, it logs one ``playbook.run`` row for the incident (idempotent: a re-claimed first step
    finds it and passes); refused, the whole playbook is skipped (``stop``) and paged.
    """
    tx.lock_budgets()
    rule, identity, playbook = payload.get("rule", ""), payload.get("identity", ""), payload.get("playbook", "")
    if tx.count_actions(0.0, incident_id=incident_id, action=PLAYBOOK_RUN):
        return None
    rrl = payload.get("rule_rate_limit")
    if rrl and tx.count_actions(now - rrl["per"], rule=rule, action=PLAYBOOK_RUN) >= rrl["max"]:
        return Refusal("skipped", f"rate limit of rule '{rule}': at most {rrl['max']} playbook run(s) per "
                       f"{format_duration(rrl['per'])}; playbook not run", limit=True, stop=True)
    cooldown = float(payload.get("cooldown") or 0)
    last = tx.last_action_at(identity=identity, action=PLAYBOOK_RUN) if cooldown else None
    if last is not None and now - last < cooldown:
        return Refusal("skipped", f"cooldown of rule '{rule}': its playbook ran for this identity "
                       f"{format_duration(now - last)} ago (cooldown {format_duration(cooldown)}); playbook not run",
                       limit=True, stop=True)
    tx.log_action(now, incident_id, rule, identity, playbook, playbook, PLAYBOOK_RUN, False)
    return None


def reserve(tx: Any, *, now: float, payload: dict[str, Any], step: StepModel, incident_id: str,
            budget: Any) -> Refusal | None:
    """Check the step's rate limit and the global destructive budget; when both allow it, log the
    execution and return ``None``."""
    tx.lock_budgets()
    rule, identity, playbook = payload.get("rule", ""), payload.get("identity", ""), payload.get("playbook", "")
    name, action = step.name, step.action
    rl = step.rate_limit
    if rl is not None and tx.count_actions(now - rl.per, playbook=playbook, step=name) >= rl.max:
        return Refusal("skipped", f"rate limit of step '{name}': at most {rl.max} per "
                       f"{format_duration(rl.per)}", limit=True)
    destructive = is_destructive(step)
    if destructive and budget is not None and tx.count_actions(now - budget.per, destructive=True) >= budget.max:
        return Refusal("skipped", f"global destructive budget spent: at most {budget.max} per "
                       f"{format_duration(budget.per)} across all rules", limit=True)
    tx.log_action(now, incident_id, rule, identity, playbook, name, action, destructive)
    return None


@dataclass
class BrokerReads:
    """Read-only checks preconditions may use (each may raise: the step's ``on_error`` decides)."""

    market_open: Callable[[], Awaitable[bool]] | None = None
    position_qty: Callable[[str], Awaitable[float]] | None = None
    open_orders: Callable[[], Awaitable[int]] | None = None
    in_interval: Callable[[str, float], bool] | None = None
    #: Who answers ``market_open``: ``Alpaca clock`` or ``<exchange> calendar`` (shown on the timeline).
    market_source: str = "Alpaca clock"


async def check_when(when: Precondition, reads: BrokerReads, now: float) -> tuple[bool, str]:
    """Evaluate a ``when:`` block. Returns ``(run, why)``; a check that cannot be made obeys ``on_error``."""
    try:
        if when.time_interval is not None:
            if reads.in_interval is None:
                raise RuntimeError("time intervals are not available")
            if not reads.in_interval(when.time_interval, now):
                return False, f"outside time interval '{when.time_interval}'"
        if when.market_open is not None:
            if reads.market_open is None:
                raise RuntimeError("the market clock needs the alpaca integration or calendar: in runbookd.yml")
            is_open = await reads.market_open()
            if is_open != when.market_open:
                return False, "market is " + ("open" if is_open else "closed") + f" ({reads.market_source})"
        if when.position is not None:
            if reads.position_qty is None:
                raise RuntimeError("positions need the alpaca integration")
            qty = abs(await reads.position_qty(when.position.symbol))
            lo, hi = when.position.min, when.position.max
            if (lo is not None and qty < lo) or (hi is not None and qty > hi):
                return False, f"{when.position.symbol} position is {qty:g}"
        if when.open_orders is not None:
            if reads.open_orders is None:
                raise RuntimeError("open orders need the alpaca integration")
            n = await reads.open_orders()
            lo2, hi2 = when.open_orders.min, when.open_orders.max
            if (lo2 is not None and n < lo2) or (hi2 is not None and n > hi2):
                return False, f"{n} open orders"
    except Exception as e:  # noqa: BLE001 — any failed check is decided by the step's declared on_error
        if when.on_error == "run":
            return True, f"precondition check failed ({e}); running (fail-open)"
        return False, f"precondition check failed ({e}); skipped (fail-closed)"
    return True, "preconditions hold"
