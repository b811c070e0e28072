"""Alert labels are untrusted data: never a template, never a shell, one argument each."""

from __future__ import annotations

from typing import Any

from tests.conftest import TESTDATA, alert, payload

NASTY = "{{ 7*7 }} $(id) `whoami`; rm -rf / && echo pwned | cat > /tmp/x '\" \\ \n" + "é" * 5000 + "x" * 5000


async def test_labels_reach_command_and_http_literally(fakes: Any, make_runbookd: Any) -> None:
    """A label with shell metacharacters, template syntax and 10 KB arrives verbatim as one argv item and
    as the JSON value at the trading system; annotations with template syntax are not evaluated either."""
    rb = await make_runbookd(
        fakes, rule_files=[str(TESTDATA / "rules" / "injection.yml")],
        command={"allowed": ["/usr/bin/printf"]},
        vars={"trading_api_url": fakes.trading.url},
    )
    a = alert("Inject", detail=NASTY, instance="host-1; reboot")
    a["annotations"]["summary"] = "{% for x in range(3) %}loop{% endfor %}"
    await rb.post_alerts(payload(a))
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    timeline = (await rb.api(f"/api/v1/incidents/{inc['id']}"))["timeline"]
    [echo] = [e for e in timeline if e["kind"] == "step.ok" and e["data"]["step"] == "echo"]
    assert echo["data"]["argv"][0] == "/usr/bin/printf"
    assert echo["data"]["stdout"] == f"<{NASTY}><host-1; reboot>"  # two arguments, each verbatim
    [call] = fakes.trading.calls("/admin/orchestrate/halt")
    assert call["json"] == {"detail": NASTY, "note": "{% for x in range(3) %}loop{% endfor %}"}
