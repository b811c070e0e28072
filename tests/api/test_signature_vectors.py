"""Signature checks against the vendors' own test vectors, sent over HTTP to runbookd.

- Slack: slackapi/python-slack-sdk ``tests/slack_sdk/signature/test_signature_verifier.py``
  (v3.43.0-26-gae87985e; the example of Slack's "Verifying requests from Slack" page).
- PagerDuty: PagerDuty/go-pagerduty ``webhookv3/webhookv3_test.go`` (v1.8.0-47-gd34fb98),
  ``TestVerifySignature``.

Only the values are copied.
"""

from __future__ import annotations

from typing import Any

from receiver.api.pagerduty import signature_ok

# -- slackapi/python-slack-sdk tests/slack_sdk/signature/test_signature_verifier.py -----------------
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_TIMESTAMP = "1531420618"  # the verifier's MockClock returns this instant
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

# -- PagerDuty/go-pagerduty webhookv3/webhookv3_test.go ---------------------------------------------
PD_SECRET = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
PD_BODY = (
    '{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident",'
    '"occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV",'
    '"id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer",'
    '"type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident",'
    '"self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2",'
    '"number":2,"status":"triggered","title":"A little bump in the road","service":{'
    '"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH",'
    '"self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},'
    '"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G",'
    '"self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],'
    '"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE",'
    '"self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default",'
    '"type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0",'
    '"id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering",'
    '"type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities",'
    '"id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1",'
    '"type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,'
    '"conference_url":"https://example.com"},"resolve_reason":null}}}'
)
PD_VALID = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
PD_MISMATCH = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"


async def _slack(make_runbookd: Any, fakes: Any, body: str, signature: str, *, now: float) -> Any:
    rb = await make_runbookd(fakes, slack={"token": "xoxb-test-token", "api_url": f"{fakes.slack.url}/api/",
                                           "signing_secret": SLACK_SECRET})
    rb.clock.set(now)
    return await rb.client.post("/slack/commands", data=body.encode(), headers={
        "X-Slack-Request-Timestamp": SLACK_TIMESTAMP, "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded"})


async def test_slack_sdk_vector_is_accepted(fakes: Any, make_runbookd: Any) -> None:
    """Slack's signed example request, at its own timestamp, passes the check and runs the command (its
    empty ``text`` is answered with the command's usage)."""
    r = await _slack(make_runbookd, fakes, SLACK_BODY, SLACK_SIGNATURE, now=int(SLACK_TIMESTAMP))
    assert r.status == 200, await r.text()
    assert (await r.json())["text"].startswith("usage: /runbookd")


async def test_slack_sdk_vector_with_a_modified_body_is_refused(fakes: Any, make_runbookd: Any) -> None:
    """test_is_valid_request_invalid_body: the body with "------" appended is 401."""
    r = await _slack(make_runbookd, fakes, SLACK_BODY + "------", SLACK_SIGNATURE, now=int(SLACK_TIMESTAMP))
    assert r.status == 401


async def test_slack_sdk_vector_is_refused_once_stale(fakes: Any, make_runbookd: Any) -> None:
    """test_is_valid_request_expiration: the same request later than 5 minutes after its timestamp is 401."""
    r = await _slack(make_runbookd, fakes, SLACK_BODY, SLACK_SIGNATURE, now=int(SLACK_TIMESTAMP) + 301)
    assert r.status == 401


def test_go_pagerduty_vectors() -> None:
    """TestVerifySignature: valid passes; mismatch, missing header and empty body fail."""
    body = PD_BODY.encode()
    assert signature_ok(body, PD_VALID, PD_SECRET)
    assert not signature_ok(body, PD_MISMATCH, PD_SECRET)
    assert not signature_ok(body, None, PD_SECRET)  # malformed_header
    assert not signature_ok(b"", PD_VALID, PD_SECRET)  # malformed_body
    assert signature_ok(body, f"{PD_MISMATCH},{PD_VALID}", PD_SECRET)  # one valid signature of several


async def test_go_pagerduty_vector_over_http(fakes: Any, make_runbookd: Any) -> None:
    """The signed delivery is accepted (and ignored: not an ack or resolve); the mismatched one is 401."""
    rb = await make_runbookd(fakes, pagerduty={"events_url": fakes.pagerduty.url, "webhook_secret": PD_SECRET,
                                               "routing_keys": {"default": "R" * 32, "secondary": "S" * 32}})
    headers = {"Content-Type": "application/json"}
    r = await rb.client.post("/webhook/pagerduty", data=PD_BODY.encode(),
                             headers={**headers, "X-PagerDuty-Signature": PD_VALID})
    assert r.status == 200, await r.text()
    assert (await r.json())["status"] == "ignored"
    r = await rb.client.post("/webhook/pagerduty", data=PD_BODY.encode(),
                             headers={**headers, "X-PagerDuty-Signature": PD_MISMATCH})
    assert r.status == 401
    r = await rb.client.post("/webhook/pagerduty", data=PD_BODY.encode(), headers=headers)
    assert r.status == 401
