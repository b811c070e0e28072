"""An incident's response times against its severity's target, for the post-mortem and the digest (pure).

Times run from the incident's opening (its last reopening, when it reopened) to its acknowledgement
and to its resolution; the target is the policy's ``respond_within`` (receiver.escalation.targets).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from receiver.durations import humanize_duration as format_duration
from receiver.model import Incident, TimelineEvent

BREACHED = "response.breached"


def response_summary(incident: Incident, events: Iterable[TimelineEvent], now: float,
                     respond_within: float | None) -> dict[str, Any]:
    """``{"respond_within", "time_to_acknowledge", "time_to_resolve"}`` as durations (``""`` when there is
    none yet), the same in seconds (``*_seconds``, ``None``), ``breached`` (a breach is on the timeline)
    and ``verdict``: ``met``, ``missed``, ``pending`` (unacknowledged, target not yet passed) or
    ``no target``."""
    evs = list(events)
    reopened = [e.at for e in evs if e.kind == "incident.reopened"]
    opened = max(reopened) if incident.epoch and reopened else incident.started_at
    ack = incident.acknowledged_at
    tta = ack - opened if ack is not None else None
    ttr = incident.resolved_at - opened if incident.resolved_at is not None else None
    breached = any(e.kind == BREACHED for e in evs)
    if respond_within is None:
        verdict = "no target"
    elif breached or (tta is not None and tta > respond_within):
        verdict = "missed"
    elif tta is not None:
        verdict = "met"
    else:
        late = (incident.resolved_at if incident.resolved_at is not None else now) - opened > respond_within
        verdict = "missed" if late else "pending"
    return {
        "respond_within": format_duration(respond_within) if respond_within is not None else "",
        "respond_within_seconds": respond_within,
        "time_to_acknowledge": format_duration(tta) if tta is not None else "",
        "time_to_acknowledge_seconds": tta,
        "time_to_resolve": format_duration(ttr) if ttr is not None else "",
        "time_to_resolve_seconds": ttr,
        "breached": breached,
        "verdict": verdict,
    }
