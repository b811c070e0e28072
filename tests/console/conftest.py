"""Fixtures of the console tests: an in-process runbookd with four people and their personal tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from receiver.access import tokens
from tests.conftest import Runbookd
from tests.store.conftest import PG_URL, pg_schema, pg_url, require_pg, with_schema

__all__ = ["pg_schema", "pg_url"]  # the fixtures, used by ``backend`` and the replica test

RULES = [str(Path(__file__).parent / "rules.yml")]
PEOPLE = [
    {"name": "vera", "role": "viewer"},
    {"name": "rita", "role": "responder"},
    {"name": "abe", "role": "approver"},
    {"name": "ada", "role": "admin"},
]
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Console:
    """A runbookd with people; ``tokens`` maps each person's name to their personal token."""

    rb: Runbookd
    tokens: dict[str, str]


def csrf_of(html: str) -> str:
    """The CSRF token a console page's forms carry."""
    m = _CSRF.search(html)
    assert m, "the page has no CSRF field"
    return m.group(1)


async def sign_in(client: Any, token: str) -> str:
    """Sign ``client`` in through the sign-in form; returns the session's CSRF token."""
    form = await (await client.get("/login")).text()
    r = await client.post("/login", data={"csrf": csrf_of(form), "token": token, "next": "/"})
    assert r.status == 200, await r.text()
    return csrf_of(await r.text())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides of ``make_console`` for each store: SQLite (the default) and PostgreSQL."""
    if request.param == "sqlite":
        return {}
    require_pg()
    return {"storage": with_schema(PG_URL, request.getfixturevalue("pg_schema")())}


@pytest.fixture
def make_console(make_runbookd: Any) -> Any:
    """Factory: ``await make_console(**settings_overrides)`` → ``Console`` (tokens created in the store)."""

    async def make(*, with_tokens: bool = True, **overrides: Any) -> Console:
        rb = await make_runbookd(None, rule_files=RULES, access={"people": PEOPLE}, **overrides)
        now = rb.clock.now()

        def create(tx: Any) -> dict[str, str]:
            return {p["name"]: tokens.create(tx, p["name"], None, by="test", now=now).secret for p in PEOPLE}

        return Console(rb, await rb.c.store.transaction(create) if with_tokens else {})

    return make
