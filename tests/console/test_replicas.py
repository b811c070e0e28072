"""Console sessions and actions on each store; on PostgreSQL a session opened through one replica
works on another (the session lives in the store)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import alert, payload
from tests.console.conftest import csrf_of, sign_in


async def test_a_console_acknowledgement_on_each_store(make_console: Any, backend: dict[str, Any]) -> None:
    """Sign in and acknowledge from the console on SQLite and PostgreSQL: acknowledged by rita."""
    con = await make_console(**backend)
    await con.rb.post_alerts(payload(alert("TradingSystemDown")))
    await con.rb.run()
    [inc] = await con.rb.api("/api/v1/incidents")
    csrf = await sign_in(con.rb.client, con.tokens["rita"])
    r = await con.rb.client.post(f"/incidents/{inc['id']}/ack", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 303
    assert (await con.rb.api(f"/api/v1/incidents/{inc['id']}"))["acknowledged_by"] == "rita"


@pytest.mark.postgres
async def test_a_session_opened_on_one_replica_works_on_another(make_console: Any, pg_url: str) -> None:
    """Two replicas on one PostgreSQL: sign in through the first, then the second knows the cookie,
    takes its CSRF token, and signing out through it ends the session on both."""
    first = await make_console(storage=pg_url)
    second = await make_console(storage=pg_url, with_tokens=False)
    await sign_in(first.rb.client, first.tokens["ada"])
    jar = first.rb.client.session.cookie_jar.filter_cookies(first.rb.client.make_url("/"))
    cookie = {"Cookie": f"runbookd_session={jar['runbookd_session'].value}"}
    page = await second.rb.client.get("/automation", headers=cookie, allow_redirects=False)
    assert page.status == 200 and "ada" in await page.text()
    r = await second.rb.client.post("/logout", data={"csrf": csrf_of(await page.text())}, headers=cookie,
                                    allow_redirects=False)
    assert r.status == 303
    assert (await first.rb.client.get("/", allow_redirects=False)).status == 303
