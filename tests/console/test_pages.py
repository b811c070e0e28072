"""The console's pages: sign-in, each page rendered for a signed-in person or a bearer token."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ADMIN, alert, payload
from tests.console.conftest import csrf_of, sign_in
from tests.rawhttp import raw_request


async def test_a_page_without_credentials_sends_the_browser_to_sign_in(make_console: Any) -> None:
    """GET / without a session or token is a 303 to /login with the page to come back to."""
    con = await make_console()
    r = await con.rb.client.get("/?status=firing", allow_redirects=False)
    location = urlsplit(r.headers["Location"])
    assert r.status == 303 and location.path == "/login" and parse_qs(location.query)["next"] == ["/?status=firing"]


async def test_sign_in_sets_a_strict_httponly_session_cookie(make_console: Any) -> None:
    """Signing in with a personal token sets an HttpOnly, SameSite=Strict cookie and names the person."""
    con = await make_console()
    form = await (await con.rb.client.get("/login")).text()
    r = await con.rb.client.post("/login", data={"csrf": csrf_of(form), "token": con.tokens["rita"]},
                                 allow_redirects=False)
    assert r.status == 303
    cookie = r.cookies["runbookd_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    page = await (await con.rb.client.get("/")).text()
    assert "rita" in page and "(responder)" in page


async def test_the_session_cookie_is_secure_when_the_external_url_is_https(make_console: Any) -> None:
    """With external_url on https the session cookie is marked Secure."""
    con = await make_console(external_url="https://runbookd.example")
    got = await con.rb.client.get("/login")
    login = got.cookies["runbookd_login"]
    assert login["secure"]
    con.rb.client.session.cookie_jar.clear()  # a Secure cookie is not sent back over http: send it by hand
    r = await con.rb.client.post("/login", data={"csrf": csrf_of(await got.text()), "token": con.tokens["rita"]},
                                 headers={"Cookie": f"runbookd_login={login.value}"}, allow_redirects=False)
    assert r.status == 303 and r.cookies["runbookd_session"]["secure"]


async def test_a_wrong_token_does_not_sign_in(make_console: Any) -> None:
    """An unknown token is a 401 on the sign-in form and sets no session."""
    con = await make_console()
    form = await (await con.rb.client.get("/login")).text()
    r = await con.rb.client.post("/login", data={"csrf": csrf_of(form), "token": "rbk_0000_nope"})
    assert r.status == 401 and "Unknown, revoked or malformed token" in await r.text()
    assert (await con.rb.client.get("/", allow_redirects=False)).status == 303


async def test_every_page_renders_for_a_bearer_token(make_console: Any) -> None:
    """A script with Authorization: Bearer reads every page (no cookie, no redirect)."""
    con = await make_console()
    await con.rb.post_alerts(payload(alert("NeedsApproval")))
    await con.rb.run()
    [inc] = await con.rb.api("/api/v1/incidents")
    auth = {"Authorization": f"Bearer {con.tokens['vera']}"}
    for path, expected in [("/", "NeedsApproval"), (f"/incidents/{inc['id']}", "Waiting for approval"),
                           (f"/incidents/{inc['id']}/postmortem", "<h1>"), ("/automation", "Running"),
                           ("/rules", "needs-approval"), ("/audit", "Chain verified")]:
        r = await con.rb.client.get(path, headers=auth)
        assert r.status == 200, (path, await r.text())
        assert expected in await r.text(), path
    md = await con.rb.client.get(f"/incidents/{inc['id']}/postmortem.md", headers=auth)
    assert md.content_type == "text/markdown" and "attachment" in md.headers["Content-Disposition"]


async def test_a_revoked_token_ends_its_session(make_console: Any) -> None:
    """Revoking the token a session was opened with signs that session out on the next request."""
    from receiver.store import tokens as rows
    con = await make_console()
    await sign_in(con.rb.client, con.tokens["rita"])
    tid = con.tokens["rita"].split("_")[1]
    await con.rb.c.store.transaction(lambda tx: rows.revoke(tx, tid, con.rb.clock.now(), "test"))
    assert (await con.rb.client.get("/", allow_redirects=False)).status == 303


async def test_alert_text_is_escaped(make_console: Any) -> None:
    """Labels and annotations are shown as text: markup in an alert is escaped, never run."""
    con = await make_console()
    a = alert("TradingSystemDown")
    a["annotations"]["summary"] = "<script>alert(1)</script>"
    await con.rb.post_alerts(payload(a))
    await con.rb.run()
    [inc] = await con.rb.api("/api/v1/incidents")
    auth = {"Authorization": f"Bearer {con.tokens['vera']}"}
    page = await (await con.rb.client.get(f"/incidents/{inc['id']}", headers=auth)).text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    pm = await (await con.rb.client.get(f"/incidents/{inc['id']}/postmortem", headers=auth)).text()
    assert "<script>alert(1)" not in pm


class _Controls(HTMLParser):
    """Collects form controls (but hidden inputs) and the ids that a <label for> names."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.landmarks: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)
        if tag == "label" and a.get("for"):
            self.labelled.add(str(a["for"]))
        if tag in ("main", "nav", "header"):
            self.landmarks.add(tag)


async def test_every_control_of_every_page_has_a_label(make_console: Any) -> None:
    """Each input, select and textarea of each page is named by a <label for>, and each page has
    header, nav and main landmarks (accessibility basics)."""
    con = await make_console()
    await con.rb.post_alerts(payload(alert("NeedsApproval")))
    await con.rb.run()
    [inc] = await con.rb.api("/api/v1/incidents")
    await sign_in(con.rb.client, con.tokens["ada"])
    for path in ("/", f"/incidents/{inc['id']}", "/automation", "/rules", "/audit"):
        parser = _Controls()
        parser.feed(await (await con.rb.client.get(path)).text())
        unlabelled = [c for c in parser.controls if c.get("id") not in parser.labelled]
        assert not unlabelled, (path, unlabelled)
        assert parser.landmarks == {"main", "nav", "header"}, path
    login = _Controls()
    con.rb.client.session.cookie_jar.clear()
    login.feed(await (await con.rb.client.get("/login")).text())
    assert login.controls and all(c.get("id") in login.labelled for c in login.controls)


async def test_a_storm_is_paged_fifty_alerts_at_a_time(make_console: Any) -> None:
    """An incident of 60 alerts shows 50, and its "More alerts" link shows the other 10."""
    import re
    con = await make_console()
    alerts = [alert("TradingSystemDown", fingerprint=f"{i:016x}", instance=f"host-{i}") for i in range(60)]
    await con.rb.post_alerts(payload(*alerts))
    await con.rb.run()
    [inc] = await con.rb.api("/api/v1/incidents")
    auth = {"Authorization": f"Bearer {con.tokens['vera']}"}
    first = await (await con.rb.client.get(f"/incidents/{inc['id']}", headers=auth)).text()
    assert first.count('data-label="Labels"') == 50 and "Alerts (60)" in first
    more = re.search(r'href="(\?after=[^"#]+)[^"]*">More alerts', first)
    assert more, "no More alerts link"
    second = await (await con.rb.client.get(f"/incidents/{inc['id']}{more.group(1).replace('&amp;', '&')}",
                                            headers=auth)).text()
    assert second.count('data-label="Labels"') == 10 and "More alerts" not in second
    shown = set(re.findall(r'<span class="small muted">([0-9a-f]{16})</span>', first + second))
    assert shown == {a["fingerprint"] for a in alerts}


@pytest.mark.parametrize("value", [b"Bearer \xff", b"Bearer \xe9t\xe9"])
async def test_an_undecodable_bearer_header_is_a_401(make_console: Any, value: bytes) -> None:
    """Authorization bytes that are not ASCII get the console's 401 page, not a 500."""
    con = await make_console()
    head = b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: " + value + b"\r\nContent-Length: 0"
    r = await raw_request(con.rb.client.host, con.rb.client.port, head, b"")
    assert r.status == 401


async def test_the_bootstrap_admin_token_signs_in_as_admin_token(make_console: Any) -> None:
    """The bootstrap admin token (admin.token) signs in too, as admin-token with role admin."""
    con = await make_console()
    await sign_in(con.rb.client, ADMIN)
    page = await (await con.rb.client.get("/automation")).text()
    assert "admin-token" in page and "Pause automation" in page


async def test_a_session_ends_after_twelve_hours(make_console: Any) -> None:
    """A session is valid for 12 hours of the injected clock from sign-in, then the page asks to sign in."""
    con = await make_console()
    await sign_in(con.rb.client, con.tokens["vera"])
    con.rb.clock.advance(12 * 3600 - 1)
    assert (await con.rb.client.get("/", allow_redirects=False)).status == 200
    con.rb.clock.advance(2)
    assert (await con.rb.client.get("/", allow_redirects=False)).status == 303


async def test_sign_out_ends_the_session(make_console: Any) -> None:
    """Signing out (with the CSRF token) ends the session in the store; the cookie no longer works."""
    con = await make_console()
    csrf = await sign_in(con.rb.client, con.tokens["vera"])
    jar = con.rb.client.session.cookie_jar.filter_cookies(con.rb.client.make_url("/"))
    cookie = {"Cookie": f"runbookd_session={jar['runbookd_session'].value}"}
    r = await con.rb.client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/login"
    con.rb.client.session.cookie_jar.clear()
    assert (await con.rb.client.get("/", headers=cookie, allow_redirects=False)).status == 303
