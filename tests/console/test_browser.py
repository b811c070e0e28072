"""The console in a real browser (Debian's Chromium through Playwright): sign in, watch an incident
arrive live, acknowledge it, approve a step, pause automation, and a viewer refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import alert, payload
from tests.console.browser import chromium
from tests.console.conftest import Console

TIMEOUT = 10_000
"""Milliseconds a browser expectation may wait (the live update polls the store every second)."""


@pytest.fixture
async def con(make_console: Any) -> Console:
    """A runbookd with people and tokens (see conftest), serving on a loopback port."""
    return await make_console()  # type: ignore[no-any-return]


@pytest.fixture
async def browser(con: Console) -> AsyncIterator[Browser]:
    """A headless Chromium, closed before the server (its live stream ends with it)."""
    async with chromium() as b:
        yield b


def url(con: Console, path: str = "/") -> str:
    """The absolute URL of ``path`` on the test server."""
    return str(con.rb.client.make_url(path))


async def signed_in(browser: Browser, con: Console, person: str) -> Page:
    """A new page signed in as ``person`` by typing the token and pressing Enter (keyboard only)."""
    page = await browser.new_page()
    await page.goto(url(con, "/"))
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("Personal token").fill(con.tokens[person])
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    return page


async def _fire(con: Console, name: str) -> str:
    r = await con.rb.post_alerts(payload(alert(name)))
    assert r.status == 200
    [inc] = await con.rb.api("/api/v1/incidents")
    return str(inc["id"])


async def test_an_incident_appears_live_after_a_webhook(browser: Browser, con: Console) -> None:
    """A signed-in page shows a new incident after a real webhook POST without reloading (SSE)."""
    page = await signed_in(browser, con, "vera")
    await expect(page.get_by_text("No incidents")).to_be_visible()
    await expect(page.locator("body[data-live-connected]")).to_have_count(1, timeout=TIMEOUT)
    await page.evaluate("window.__sameDocument = true")
    iid = await _fire(con, "TradingSystemDown")
    row = page.locator(f"tr[data-incident='{iid}']")
    await expect(row).to_be_visible(timeout=TIMEOUT)
    await expect(row).to_contain_text("firing")
    assert await page.evaluate("window.__sameDocument === true"), "the page reloaded"


async def test_a_responder_acknowledges_from_the_incident_page(browser: Browser, con: Console) -> None:
    """rita opens the incident from the list and clicks Acknowledge: it is acknowledged by her."""
    iid = await _fire(con, "TradingSystemDown")
    page = await signed_in(browser, con, "rita")
    await page.locator(f"tr[data-incident='{iid}'] a").click()
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.locator("#status")).to_have_text("acknowledged")
    await expect(page.get_by_text("acknowledged by rita via console")).to_be_visible()
    assert (await con.rb.api(f"/api/v1/incidents/{iid}"))["acknowledged_by"] == "rita"


async def test_an_approver_approves_a_waiting_step(browser: Browser, con: Console) -> None:
    """abe approves the waiting step; once the dispatcher runs it, the page shows it ran."""
    iid = await _fire(con, "NeedsApproval")
    await con.rb.run()
    page = await signed_in(browser, con, "abe")
    await page.goto(url(con, f"/incidents/{iid}"))
    await page.get_by_role("button", name="Approve halt").click()
    await expect(page.get_by_text("approved by abe via console").first).to_be_visible()
    await con.rb.run()
    await page.reload()
    await expect(page.locator(".card", has_text="halt (log)")).to_contain_text("ok")
    await expect(page.get_by_role("button", name="Approve halt")).to_have_count(0)


async def test_an_admin_pauses_automation(browser: Browser, con: Console) -> None:
    """ada pauses automation with a reason from the Automation page; every replica sees it (the store)."""
    page = await signed_in(browser, con, "ada")
    await page.get_by_role("link", name="Automation").click()
    await page.get_by_label("Reason").fill("broker maintenance")
    await page.get_by_role("button", name="Pause automation").click()
    await expect(page.locator("#automation-state")).to_contain_text("Paused by ada via console")
    state = await con.rb.api("/api/v1/automation")
    assert state["paused"] and state["reason"] == "broker maintenance"


async def test_a_viewer_sees_no_approve_button_and_a_forged_post_is_refused(browser: Browser, con: Console) -> None:
    """vera (viewer) sees no Approve button; a POST forged from her page with her CSRF token is a 403
    and the step still waits."""
    iid = await _fire(con, "NeedsApproval")
    await con.rb.run()
    page = await signed_in(browser, con, "vera")
    await page.goto(url(con, f"/incidents/{iid}"))
    await expect(page.get_by_role("heading", name="Waiting for approval")).to_be_visible()
    await expect(page.get_by_role("button", name="Approve halt")).to_have_count(0)
    status = await page.evaluate("""async (iid) => {
        const csrf = document.querySelector("input[name=csrf]").value;
        const r = await fetch(`/incidents/${iid}/approve`, {method: "POST",
            body: new URLSearchParams({csrf, step: "1"})});
        return r.status; }""", iid)
    assert status == 403
    jobs = await con.rb.c.store.read(lambda tx: tx.jobs_of(iid))
    assert any(j.state == "pending" and j.payload.get("approval_wait") for j in jobs)


async def test_the_list_is_readable_in_a_narrow_window(browser: Browser, con: Console) -> None:
    """At 360 px wide the incident list needs no horizontal scrolling (rows stack)."""
    await _fire(con, "TradingSystemDown")
    page = await signed_in(browser, con, "vera")
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.reload()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360


async def test_an_open_incident_page_shows_an_approval_made_elsewhere(browser: Browser, con: Console) -> None:
    """abe has the incident page open; ada approves through the API and the step runs; abe's page shows
    both without a reload."""
    iid = await _fire(con, "NeedsApproval")
    await con.rb.run()
    page = await signed_in(browser, con, "abe")
    await page.goto(url(con, f"/incidents/{iid}"))
    await expect(page.locator("body[data-live-connected]")).to_have_count(1, timeout=TIMEOUT)
    await page.evaluate("window.__sameDocument = true")
    r = await con.rb.client.post(f"/api/v1/incidents/{iid}/approve", json={"step": "halt"},
                                 headers={"Authorization": f"Bearer {con.tokens['ada']}"})
    assert r.status == 200, await r.text()
    await expect(page.get_by_text("approved by ada via api").first).to_be_visible(timeout=TIMEOUT)
    await con.rb.run()  # the dispatcher runs the approved step
    await expect(page.get_by_role("button", name="Approve halt")).to_have_count(0, timeout=TIMEOUT)
    await expect(page.locator(".card", has_text="halt (log)")).to_contain_text("ok")
    assert await page.evaluate("window.__sameDocument === true"), "the page reloaded"
