"""``GET /api/v1/reports/response?since=…&until=…``: MTTA and MTTR per severity against the response targets.

``since`` / ``until`` are RFC 3339 times (``2026-11-01T00:00:00Z``) or a Prometheus duration back from
now (``since=7d``); defaults: the last 7 days, until now. The numbers come from one aggregate query of
the store (``Tx.response_report``), not from loading incidents.
"""

from __future__ import annotations

from typing import Any

from receiver.clock import iso, parse_rfc3339
from receiver.durations import parse_duration
from receiver.escalation.targets import response_targets

SEVERITIES = ("P0", "P1", "P2", "P3")
DEFAULT_SINCE = 7 * 86400.0


def parse_time(text: str, now: float) -> float:
    """An RFC 3339 time with a zone, or a duration before ``now``, as epoch seconds; ``ValueError`` otherwise."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_rfc3339(text)
    except ValueError as e:
        raise ValueError(f"{e}, or a duration such as 7d") from None


def response_json(rows: dict[str, dict[str, Any]], rules: Any, since: float, until: float) -> dict[str, Any]:
    """The report's body: ``since``, ``until`` and, for every severity, ``respond_within_seconds`` (the
    target, ``None`` without one), ``incidents``, ``acknowledged``, ``mtta_seconds``, ``resolved``,
    ``mttr_seconds`` (means from the incident's start, ``None`` when nothing to average), ``breaches``."""
    targets = response_targets(rules) if rules is not None else {}
    empty = {"incidents": 0, "acknowledged": 0, "mtta_seconds": None, "resolved": 0, "mttr_seconds": None,
             "breaches": 0}
    return {"since": iso(since), "until": iso(until), "severities": {
        sev: {"respond_within_seconds": targets.get(sev), **empty, **rows.get(sev, {})} for sev in SEVERITIES}}
