"""Bulkheads: each family of work rows gets its own bounded share of the dispatcher.

A family is the playbook steps (``actions``), the rows addressed to one channel kind (``slack``,
``pagerduty``, ``email``, any later one: its receivers' pages, edits, resolves, acks, approvals,
notices; the dead man's switch counts as ``pagerduty``), or ``other`` (rows that fan out to several
receivers: status updates, post-mortem links, digests, and rows whose receiver is gone). Each family
claims only its own rows and only as many as it has free slots, so a vendor that hangs fills its own
bulkhead and nobody else's: a hung Slack never holds up a PagerDuty page or an emergency step.
``other`` is defined as "none of the rest", so every row belongs to exactly one family.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from receiver.jobkinds import kinds
from receiver.notify import CHANNELS as REGISTERED_CHANNELS
from receiver.notify import HEARTBEAT_CHANNEL
from receiver.store.base import JobClause, JobFilter

#: Row kinds addressed to one receiver (``payload.receiver``), from ``receiver.jobkinds``.
ROUTED = kinds(routed=True)
#: Channel kinds that always have a bulkhead, receivers or not (the channel registry's).
CHANNELS = tuple(REGISTERED_CHANNELS)
DEFAULT_LIMIT = 4


@dataclass(frozen=True)
class Bulkhead:
    """A family of rows: ``name``, at most ``limit`` of them running at once, and the rows it claims."""

    name: str
    limit: int
    where: JobFilter


def bulkheads(receivers: Mapping[str, Any], limits: Mapping[str, int]) -> list[Bulkhead]:
    """The bulkheads for ``receivers`` (name → receiver with a ``kind``) and ``limits`` by family name."""
    by_kind: dict[str, list[str]] = {k: [] for k in CHANNELS}
    for name, rcv in receivers.items():
        by_kind.setdefault(str(rcv.kind), []).append(name)
    out = [Bulkhead("actions", limits.get("actions", 8), JobFilter(include=((("step",), None),)))]
    for kind in sorted(by_kind):
        clauses: list[JobClause] = [(ROUTED, tuple(sorted(by_kind[kind])))]
        if kind == HEARTBEAT_CHANNEL:  # the dead man's switch pages through this channel
            clauses.append((("deadman", "deadman_resolve"), None))
        out.append(Bulkhead(kind, limits.get(kind, DEFAULT_LIMIT), JobFilter(include=tuple(clauses))))
    rest = tuple(c for b in out for c in b.where.include)
    out.append(Bulkhead("other", limits.get("other", DEFAULT_LIMIT), JobFilter(exclude=rest)))
    return out
