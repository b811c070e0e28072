"""Conditions of ``if:`` and ``until:``: Jinja2 expressions evaluated in the sandbox over the step's context.

A condition sees what a template sees (``alert``, ``incident``, ``vars``; never ``secrets``), plus
``steps`` (``steps.NAME.result`` of every earlier step of the playbook: ``outcome``, ``summary``,
``data`` — an http step's ``data.status`` and ``data.json``, an Alpaca step's broker objects),
``calendar`` (``calendar.market_hours``, ``calendar.in_interval('name')`` for any time interval,
``calendar.market_open``: the calendar or Alpaca's clock) and, in ``until``, ``result`` (the latest
result of the step or its read). Step names with ``-`` are reached as ``steps['check-mode']``.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from receiver.errors import ActionError
from receiver.playbooks.gates import BrokerReads
from receiver.rules.calendar import MARKET_CLOSED, MARKET_EXTENDED, MARKET_HOURS

_ENV = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)
_STEP_REF = re.compile(r"steps\s*(?:\.\s*([A-Za-z0-9_]+)|\[\s*['\"]([A-Za-z0-9_.:-]+)['\"]\s*\])")


class CalendarView:
    """``calendar`` in a condition: time intervals at the step's instant (``now``, epoch seconds UTC).

    Raises ``ActionError`` (not retryable) when an interval is asked for and none is available.
    """

    def __init__(self, reads: BrokerReads, now: float, market_open: bool | None) -> None:
        self._reads, self._now, self.market_open = reads, now, market_open

    def in_interval(self, name: str) -> bool:
        """Whether ``now`` is inside the time interval ``name`` (``time_intervals`` or the calendar's)."""
        if self._reads.in_interval is None:
            raise ActionError("time intervals are not available to conditions", retryable=False)
        return bool(self._reads.in_interval(str(name), self._now))

    @property
    def market_hours(self) -> bool:
        """``in_interval('market_hours')`` (needs ``calendar:`` in runbookd.yml)."""
        return self.in_interval(MARKET_HOURS)

    @property
    def market_extended_hours(self) -> bool:
        """``in_interval('market_extended_hours')``."""
        return self.in_interval(MARKET_EXTENDED)

    @property
    def market_closed(self) -> bool:
        """``in_interval('market_closed')``."""
        return self.in_interval(MARKET_CLOSED)


def depends_on(expr: str) -> list[str]:
    """The step names a condition reads through ``steps``, in order of appearance, once each."""
    out: list[str] = []
    for m in _STEP_REF.finditer(expr):
        name = m.group(1) or m.group(2)
        if name not in out:
            out.append(name)
    return out


def steps_view(results: dict[str, Any]) -> dict[str, Any]:
    """``steps`` for templates and conditions from the stored results: ``{name: {"result": …}}``."""
    return {name: {"result": r} for name, r in results.items()}


async def context(base: dict[str, Any], results: dict[str, Any], reads: BrokerReads, now: float,
                  expr: str, result: dict[str, Any] | None = None) -> dict[str, Any]:
    """The variables ``expr`` sees: ``base`` (a template context) without ``secrets``, plus ``steps``,
    ``calendar`` and ``result``. ``calendar.market_open`` is read (one broker or calendar call) only
    when ``expr`` names it; a failed read raises ``ActionError``."""
    market_open = None
    if "market_open" in expr:
        if reads.market_open is None:
            raise ActionError("calendar.market_open needs the alpaca integration or calendar: in runbookd.yml",
                              retryable=False)
        try:
            market_open = bool(await reads.market_open())
        except Exception as e:  # noqa: BLE001 — the caller records a failed condition, whatever the cause
            raise ActionError(f"calendar.market_open could not be read: {e}", retryable=True) from e
    ctx = {k: v for k, v in base.items() if k != "secrets"}
    ctx.update(steps=steps_view(results), calendar=CalendarView(reads, now, market_open), result=result or {})
    return ctx


def holds(expr: str, ctx: dict[str, Any]) -> bool:
    """Evaluate ``expr`` over ``ctx`` in the sandbox; its truth. An undefined name (``steps.later``) is
    false-y, also when more attributes follow it.

    Raises ``ActionError`` (not retryable) naming the condition when it fails to compile or evaluate.
    """
    try:
        return bool(_ENV.compile_expression(expr, undefined_to_none=True)(**ctx))
    except (TemplateError, TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError) as e:
        raise ActionError(f"condition {expr!r} failed: {e}", retryable=False) from e
