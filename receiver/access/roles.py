"""Roles, in order, and the role each action needs. Roles are cumulative: each includes those below.

``viewer`` < ``responder`` (acknowledge, resolve) < ``approver`` (answer approvals) < ``admin``
(pause and resume automation, reload, manual runs, tokens, maintenance windows, on-call overrides).
"""

from __future__ import annotations

from typing import Literal

Role = Literal["viewer", "responder", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "responder", "approver", "admin")
"""Every role, lowest first."""

#: The lowest role allowed to do each action.
NEEDS: dict[str, Role] = {
    "view": "viewer",
    "ack": "responder",
    "resolve": "responder",
    "approve": "approver",
    "reject": "approver",
    "pause": "admin",
    "resume": "admin",
    "reload": "admin",
    "run": "admin",
    "token": "admin",
    "maintenance": "admin",
    "oncall": "admin",
}


def needed_role(action: str) -> Role:
    """The lowest role that may do ``action``; raises ``KeyError`` for an unknown action."""
    return NEEDS[action]


def allows(role: Role | None, action: str) -> bool:
    """Whether ``role`` (``None``: nobody known) may do ``action`` (cumulative roles)."""
    return role is not None and ROLES.index(role) >= ROLES.index(NEEDS[action])
