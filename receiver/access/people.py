"""``access:`` in runbookd.yml — people, their roles and how Slack and email identify them — and the
``Directory`` that answers "who is this Slack user / this email, with which role".

Without ``access:`` runbookd keeps its earlier behaviour (``Directory(None)``, legacy mode): every
verified Slack user acts as an ``approver`` (acknowledge, resolve, answer approvals, still limited by
a step's ``approvers``) but not an admin, so pausing automation from Slack needs ``access:``; the
admin token is the only admin of the API. See docs/access.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

import structlog
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from receiver.access.roles import ROLES, Role
from receiver.durations import parse_duration

log = structlog.get_logger("runbookd.access")
Seconds = Annotated[float, BeforeValidator(parse_duration)]
_SLACK_USER = r"^[UW][A-Z0-9]{2,}$"
_SLACK_GROUP = r"^S[A-Z0-9]{2,}$"


class Person(BaseModel):
    """One person (or a team through a Slack user group): ``name``, ``role``, Slack user IDs
    (``U…``/``W…``), Slack user-group IDs (``S…``: every member acts with this role), optional email,
    PagerDuty user IDs (``P…``: who acknowledges or resolves in PagerDuty) and optional ``phone`` (E.164:
    texted and called when on call, and who presses 1 on a Twilio call)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\s/]+$")
    role: Role
    slack_users: list[Annotated[str, Field(pattern=_SLACK_USER)]] = Field(default_factory=list)
    slack_groups: list[Annotated[str, Field(pattern=_SLACK_GROUP)]] = Field(default_factory=list)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    pagerduty_users: list[Annotated[str, Field(pattern=r"^P[A-Z0-9]{2,}$")]] = Field(default_factory=list)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")


class AccessConfig(BaseModel):
    """``access:`` — ``people`` (unique names, a Slack user ID or a phone belongs to one person) and
    ``group_cache``, how long (seconds) a Slack user group's members are remembered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    people: list[Person] = Field(default_factory=list)
    group_cache: Seconds = 300.0

    @model_validator(mode="after")
    def _unique(self) -> AccessConfig:
        names, users, phones = set(), set(), set()
        for p in self.people:
            if p.phone is not None:
                if p.phone in phones:
                    raise ValueError(f"phone {p.phone} belongs to two people")
                phones.add(p.phone)
            if p.name in names:
                raise ValueError(f"person {p.name!r} is declared twice")
            names.add(p.name)
            for u in p.slack_users:
                if u in users:
                    raise ValueError(f"Slack user {u} belongs to two people")
                users.add(u)
        return self


@dataclass(frozen=True)
class Actor:
    """Who acts: ``name`` (recorded everywhere), ``role``, and ``ids`` a step's ``approvers`` may list
    (the person's name, Slack user ID, email). ``legacy``: no ``access:`` is configured."""

    name: str
    role: Role
    ids: tuple[str, ...] = ()
    legacy: bool = False

    def matches(self, approvers: list[str]) -> bool:
        """Whether this actor is one of ``approvers`` (names, Slack user IDs or emails)."""
        return bool({self.name, *self.ids} & set(approvers))


#: ``members(group_id) -> user IDs`` (Slack ``usergroups.users.list``); raises on failure.
GroupMembers = Callable[[str], Awaitable[list[str]]]


@dataclass
class Directory:
    """Maps Slack users and emails to people. ``config`` ``None``: legacy mode (see the module)."""

    config: AccessConfig | None
    members: GroupMembers | None = None
    clock: Callable[[], float] | None = None
    _cache: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)

    @property
    def legacy(self) -> bool:
        """Whether no ``access:`` is configured."""
        return self.config is None

    def person(self, name: str) -> Person | None:
        """The declared person called ``name``, or ``None``."""
        return next((p for p in (self.config.people if self.config else []) if p.name == name), None)

    def actor_of(self, p: Person, *extra: str) -> Actor:
        """The actor of a declared person."""
        return Actor(p.name, p.role, (*p.slack_users, *((p.email,) if p.email else ()), *extra))

    async def slack(self, user_id: str, display: str) -> Actor | None:
        """The actor of a verified Slack user, or ``None`` when access is configured and they are unknown.

        A user listed under ``slack_users`` is that person; otherwise the highest role among the user
        groups they belong to, named ``<person>/<user id>`` so that the individual stays known.
        """
        if self.config is None:
            return Actor(display, "approver", (user_id,), legacy=True)
        for p in self.config.people:
            if user_id in p.slack_users:
                return self.actor_of(p)
        best: Person | None = None
        for p in self.config.people:
            if not p.slack_groups or (best is not None and ROLES.index(p.role) <= ROLES.index(best.role)):
                continue
            for g in p.slack_groups:
                if user_id in await self._members(g):
                    best = p
                    break
        return Actor(f"{best.name}/{user_id}", best.role, (user_id,)) if best else None

    def pagerduty(self, user_id: str, display: str) -> Actor | None:
        """The actor of a PagerDuty user (the webhook's ``agent.id``), or ``None`` when unknown."""
        if self.config is None:
            return Actor(display, "approver", (user_id,), legacy=True)
        p = next((p for p in self.config.people if user_id and user_id in p.pagerduty_users), None)
        return self.actor_of(p) if p else None

    def phone(self, number: str) -> Actor:
        """The actor of a phone that answered a runbookd call (``To`` of a Twilio callback).

        The person whose ``phone`` is ``number``; else ``phone:<number>`` as a ``responder`` (legacy
        mode, or a fixed number of a receiver's ``to:``: the rule files chose to call it, and only the
        callee can press a key on the call).
        """
        if self.config is None:
            return Actor(f"phone:{number}", "responder", (number,), legacy=True)
        p = next((p for p in self.config.people if p.phone and p.phone == number), None)
        return self.actor_of(p, number) if p else Actor(f"phone:{number}", "responder", (number,))

    def email(self, address: str | None) -> Actor | None:
        """The person whose ``email`` is ``address`` (case-insensitive), or ``None``."""
        if not address or self.config is None:
            return None
        for p in self.config.people:
            if p.email and p.email.lower() == address.lower():
                return self.actor_of(p)
        return None

    async def _members(self, group: str) -> frozenset[str]:
        now = self.clock() if self.clock else 0.0
        ttl = self.config.group_cache if self.config else 0.0
        hit = self._cache.get(group)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        if self.members is None:
            return frozenset()
        try:
            users = frozenset(await self.members(group))
        except Exception as e:  # Slack down: keep what we knew (or nobody), never let anyone in by error
            log.warning("cannot read Slack user group members", group=group, error=str(e))
            return hit[1] if hit else frozenset()
        self._cache[group] = (now, users)
        return users
