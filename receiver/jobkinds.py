"""The table of work-row kinds: which part handles each, shared by the dispatcher, the sender and the simulation.

``JOB_KINDS`` maps every ``receiver.model.JobKind`` to a ``KindSpec``. The live path
(``incidents.dispatcher``) hands a row to the worker its ``handler`` names; the sender waits for the
page before a ``follow_up``; the bulkheads route rows that are ``routed`` to one receiver; the
simulation (``simulate.plan``) shows as a notification every row that ``notifies``. A new kind is
one line here and its handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from receiver.model import JobKind

Handler = Literal["runner", "targets", "silences", "sender"]


@dataclass(frozen=True)
class KindSpec:
    """What a row kind is.

    ``handler``: the worker that runs it (``runner``: playbook steps; ``targets``: response targets;
    ``silences``: Alertmanager silences; ``sender``: notifications and timers). ``routed``: its
    payload names one ``receiver`` (a channel's bulkhead claims it). ``follow_up``: it refers to the
    page on its receiver, so it waits while that page is still being sent. ``notifies``: the
    simulation lists it among the notifications of the plan.
    """

    handler: Handler
    routed: bool = False
    follow_up: bool = False
    notifies: bool = True


JOB_KINDS: dict[str, KindSpec] = {
    "step": KindSpec("runner", notifies=False),
    "page": KindSpec("sender", routed=True),
    "update": KindSpec("sender"),
    "refresh": KindSpec("sender", routed=True, follow_up=True, notifies=False),
    "resolve": KindSpec("sender", routed=True, follow_up=True),
    "ack": KindSpec("sender", routed=True, follow_up=True),
    "approval": KindSpec("sender", routed=True, follow_up=True),
    "notice": KindSpec("sender", routed=True, follow_up=True),
    "postmortem": KindSpec("sender", follow_up=True),
    "digest": KindSpec("sender"),
    "deadman": KindSpec("sender"),
    "deadman_resolve": KindSpec("sender"),
    "target": KindSpec("targets", notifies=False),
    "silence": KindSpec("silences"),
}
assert set(JOB_KINDS) == set(get_args(JobKind)), "every JobKind has one line in JOB_KINDS"

#: An unknown kind (a row written by a newer version) goes to the sender, which fails it visibly.
UNKNOWN = KindSpec("sender")


def spec(kind: str) -> KindSpec:
    """The ``KindSpec`` of row kind ``kind`` (``UNKNOWN`` for a kind not in the table)."""
    return JOB_KINDS.get(kind, UNKNOWN)


def kinds(**where: object) -> tuple[str, ...]:
    """The row kinds, in table order, whose spec has every given value, e.g. ``kinds(routed=True)``."""
    return tuple(k for k, s in JOB_KINDS.items() if all(getattr(s, f) == v for f, v in where.items()))
