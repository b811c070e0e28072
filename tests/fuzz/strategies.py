"""Hypothesis strategies of hostile and odd HTTP requests, one family per endpoint of runbookd.

A ``Case`` is raw bytes on the wire (method, target, headers, body) and what the answer must be:
``expect_status`` when the case knows it (a valid body: 200; one field made wrong: 400) and
``expect_field`` (the path the 400 must name). Every case also obeys the general rules checked in
``tests/fuzz/checks.py``. Used by the suite (tests/fuzz/) and by ``bench/fuzz.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

Headers = list[tuple[bytes, bytes]]


@dataclass
class Case:
    """One request to send and what its answer must be (``None``: only the general rules)."""

    method: bytes
    target: bytes
    headers: Headers
    body: bytes
    expect_status: int | None = None
    expect_field: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis prints the failing case: keep it readable
        return (f"Case({self.method!r} {self.target!r} headers={self.headers!r} body={self.body[:300]!r}"
                f"{'…' if len(self.body) > 300 else ''} expect={self.expect_status} field={self.expect_field!r}"
                f" note={self.note!r})")


@dataclass(frozen=True)
class Secrets:
    """What a well-behaved sender knows: tokens, signing secrets, and the server's clock (epoch s;
    ``now=0`` reads the real clock at each draw, for a real ``runbookd serve``)."""

    webhook_token: str
    admin_token: str
    slack_secret: str
    pagerduty_secret: str
    now: float = 0.0

    def clock(self) -> float:
        """The server's time now (epoch seconds)."""
        return self.now or time.time()


# -- building blocks -------------------------------------------------------------------------------
NASTY_CHARS = ["\x00", "\u0000x", "\ufffd", "\u202e", "\U0001f525", "é", "\\", '"', "\n", "\t", "{{ 7*7 }}",
               "../../etc/passwd", "%00", "\ud7ff", "\uffff", "'; DROP TABLE alerts; --"]
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(NASTY_CHARS),
    st.builds(lambda a, b: a + b, st.sampled_from(NASTY_CHARS), st.text(max_size=10)),
    st.integers(min_value=0, max_value=3).map(lambda n: "x" * (10 ** n * 7)),
)
NUMBERS = [0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30, 1e30, -1e308, 1.5, 1e-300, -62135596801, 1700000000,
           1700000000000]
numbers = st.one_of(st.sampled_from(NUMBERS), st.integers(), st.floats(allow_nan=False, allow_infinity=False))
json_scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=12)
NOT_STRINGS = st.one_of(st.none(), st.booleans(), numbers, st.lists(json_scalars, max_size=2),
                        st.dictionaries(st.text(max_size=3), json_scalars, max_size=2))
NOT_OBJECTS = st.one_of(st.booleans(), numbers, texts, st.lists(json_scalars, max_size=2))
NOT_LISTS = st.one_of(st.booleans(), numbers, texts, st.dictionaries(st.text(max_size=3), json_scalars, max_size=2))


def dumps(obj: Any) -> bytes:
    """JSON as a sender would write it; lone surrogates and NULs go out as \\u escapes."""
    return json.dumps(obj).encode()


def deep(n: int) -> bytes:
    """``n`` nested JSON arrays."""
    return b"[" * n + b"]" * n


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"{", b"null", b"[]", b"{}", b'"x"', b"\xff\xfe\x00", b"\x00" * 10, b'{"a":1}' * 3,
                     b"\xef\xbb\xbf{}", b'{"version": "4"' + b" " * 1000, b"1" * 5000, b'{"a": "\\ud800"}',
                     b'{"a": "\\u0000"}', b'{"a": NaN}', b'{"a": Infinity}']),
    st.integers(min_value=10, max_value=100_000).map(deep),
    st.integers(min_value=10, max_value=5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    json_values.map(dumps),
)
# Header bytes stay within what HTTP/1.1 framing allows (obs-text 0x80-0xff included): a malformed request
# line or header is refused by aiohttp's parser before any of runbookd's code runs.
CONTENT_TYPES = [b"application/json", b"application/x-www-form-urlencoded", b"text/plain", b"multipart/form-data",
                 b"application/json; charset=latin-1", b"\xff\xfe", b"", b"application/json; boundary=\xff"]


@st.composite
def odd_headers(draw: Any) -> Headers:
    """Content-Type, Content-Encoding and a few odd headers, sometimes none."""
    h: Headers = []
    if draw(st.booleans()):
        h.append((b"Content-Type", draw(st.sampled_from(CONTENT_TYPES))))
    if draw(st.integers(0, 5)) == 0:
        h.append((b"Content-Encoding", draw(st.sampled_from([b"gzip", b"deflate", b"br", b"identity", b"x-weird",
                                                            b"gzip, gzip", b"\xff"]))))
    if draw(st.integers(0, 5)) == 0:
        h.append((draw(st.sampled_from([b"X-Forwarded-For", b"Accept", b"X-Weird"])),
                  draw(st.sampled_from([b"\xff", b"*/*", b"a" * 4000]))))
    return h


def maybe_compress(draw: Any, headers: Headers, body: bytes) -> tuple[bytes, bool]:
    """Sometimes gzip or deflate the body and say so; returns the body and whether it did (then 400)."""
    choice = draw(st.integers(0, 19))
    if choice == 0:
        headers.append((b"Content-Encoding", b"gzip"))
        return gzip.compress(body), True
    if choice == 1:
        headers.append((b"Content-Encoding", b"deflate"))
        return zlib.compress(body), True
    return body, False


# -- Alertmanager webhook ------------------------------------------------------------------------
def rfc3339(dt: datetime) -> str:
    """``dt`` as RFC 3339 with ``Z`` for UTC."""
    return dt.isoformat().replace("+00:00", "Z")


@st.composite
def am_times(draw: Any) -> tuple[str, bool]:
    """An RFC 3339 text and whether its UTC instant exists (offsets near year 1 and 9999 overflow)."""
    tz = timezone(timedelta(minutes=draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))))
    naive = draw(st.one_of(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
                           st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)])))
    dt = naive.replace(tzinfo=tz)
    try:
        dt.astimezone(UTC)
        ok = True
    except OverflowError:
        ok = False
    return dt.isoformat(), ok


@st.composite
def am_alert(draw: Any, i: int) -> dict[str, Any]:
    """A valid alert (labels and annotations may hold any text, NUL included)."""
    labels = {"alertname": draw(texts), **draw(st.dictionaries(texts, texts, max_size=4))}
    status = draw(st.sampled_from(["firing", "resolved"]))
    a: dict[str, Any] = {
        "status": status, "labels": labels, "annotations": draw(st.dictionaries(texts, texts, max_size=3)),
        "startsAt": "2026-11-22T01:37:32.084422Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-22T01:40:00Z",
        "generatorURL": draw(texts), "fingerprint": f"{draw(st.integers(0, 2**64 - 1)):016x}",
    }
    if draw(st.integers(0, 9)) == 0:
        del a["fingerprint"]  # before Alertmanager 0.19
    if draw(st.integers(0, 9)) == 0:
        a["unknownKey"] = draw(json_values)
    return a


#: Mutations that make a valid body wrong in exactly one field: (path, how to break it).
def _bad_fingerprint() -> Any:
    return st.one_of(NOT_STRINGS.filter(lambda v: v is not None),
                     st.sampled_from(["", "a b", "\x00", "x" * 65, "é", "\t", "ab\ncd"]))


@st.composite
def am_body(draw: Any) -> tuple[dict[str, Any], int | None, str | None]:
    """A webhook body and its expected (status, field): valid (200) or broken in one field (400)."""
    n = draw(st.integers(1, 4))
    alerts = [draw(am_alert(i)) for i in range(n)]
    body: dict[str, Any] = {
        "receiver": draw(texts), "status": "firing", "alerts": alerts, "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": draw(texts), "version": "4", "groupKey": draw(texts),
        "truncatedAlerts": draw(st.integers(0, 2**63 - 1)),
    }
    if draw(st.integers(0, 9)) == 0:
        del body["version"]
    k = draw(st.integers(0, n - 1))
    where = f"alerts[{k}]"
    mutation = draw(st.sampled_from(["none", "none", "time", "version", "status", "alerts", "a.status", "labels",
                                     "label-value", "startsAt", "endsAt", "fingerprint", "generatorURL",
                                     "truncated", "groupLabels", "missing"]))
    a = alerts[k]
    if mutation == "none":
        return body, 200, None
    if mutation == "time":
        text, ok = draw(am_times())
        a["startsAt"] = text
        return body, (200 if ok else 400), (None if ok else f"{where}.startsAt")
    if mutation == "version":
        body["version"] = draw(st.one_of(NOT_STRINGS, st.sampled_from(["3", "5", "", "4 ", "\x004"])))
        return body, 400, "version"
    if mutation == "status":
        body["status"] = draw(st.one_of(NOT_STRINGS, st.sampled_from(["", "Firing", "pending", "firing\x00"])))
        return body, 400, "status"
    if mutation == "alerts":
        body["alerts"] = draw(NOT_LISTS)
        return body, 400, "alerts"
    if mutation == "a.status":
        a["status"] = draw(st.one_of(NOT_STRINGS, st.sampled_from(["", "RESOLVED", "active"])))
        return body, 400, f"{where}.status"
    if mutation == "labels":
        a["labels"] = draw(st.one_of(NOT_OBJECTS, st.just({})))
        return body, 400, f"{where}.labels"
    if mutation == "label-value":
        a["labels"]["broken"] = draw(NOT_STRINGS)
        return body, 400, f"{where}.labels.broken"
    if mutation == "startsAt":
        a["startsAt"] = draw(st.one_of(NOT_STRINGS, st.sampled_from([
            "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1700000000", "2026-11-22",
            "2026-11-22T01:37:32", "2026-13-01T00:00:00Z", "2026-11-22T25:00:00Z", "2026-11-22T01:37:32+24:00",
            "2026-11-22T01:37:32.0123456789Z", "yesterday", "", "２０２６-11-22T01:37:32Z"])))
        return body, 400, f"{where}.startsAt"
    if mutation == "endsAt":
        a["endsAt"] = draw(st.one_of(NOT_STRINGS.filter(lambda v: v is not None),
                                     st.sampled_from(["9999-12-31T23:59:59-01:00", "soon", "0"])))
        return body, 400, f"{where}.endsAt"
    if mutation == "fingerprint":
        a["fingerprint"] = draw(_bad_fingerprint())
        return body, 400, f"{where}.fingerprint"
    if mutation == "generatorURL":
        a["generatorURL"] = draw(NOT_STRINGS.filter(lambda v: v is not None))
        return body, 400, f"{where}.generatorURL"
    if mutation == "truncated":
        body["truncatedAlerts"] = draw(st.one_of(st.sampled_from([-1, 2**63, 10**30, 1e30, 1.0, 0.5, "3", None]),
                                                 st.floats(allow_nan=False, allow_infinity=False)))
        return body, 400, "truncatedAlerts"
    if mutation == "groupLabels":
        body["groupLabels"] = draw(NOT_OBJECTS)
        return body, 400, "groupLabels"
    # missing: a required field
    name = draw(st.sampled_from(["status", "alerts", "a.status", "a.labels", "a.startsAt"]))
    if name.startswith("a."):
        del a[name[2:]]
        return body, 400, f"{where}.{name[2:]}"
    del body[name]
    return body, 400, name


def _webhook_auth(secrets: Secrets) -> tuple[bytes, bytes]:
    return b"Authorization", f"Bearer {secrets.webhook_token}".encode()


@st.composite
def alertmanager_cases(draw: Any, secrets: Secrets) -> Case:
    """``POST /webhook/alertmanager``: mostly well-formed bodies with one field broken, else chaos."""
    kind = draw(st.integers(0, 9))
    if kind < 6:
        body, status, fld = draw(am_body())
        headers: Headers = [(b"Content-Type", b"application/json"), _webhook_auth(secrets)]
        raw, compressed = maybe_compress(draw, headers, dumps(body))
        if compressed:
            status, fld = 400, "Content-Encoding"
        return Case(b"POST", b"/webhook/alertmanager", headers, raw, status, fld, "structured")
    if kind == 6:  # wrong or odd credentials: always 401
        value = draw(st.sampled_from([b"Bearer \xff", b"Bearer", b"Basic \xff\xfe", b"Bearer " + b"a" * 5000,
                                      b"bearer " + secrets.webhook_token.encode(), b"Bearer \xc3\xa9"]))
        return Case(b"POST", b"/webhook/alertmanager", [(b"Authorization", value)], b"{}", 401, None, "auth")
    method = draw(st.sampled_from([b"POST", b"POST", b"PUT", b"GET", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD"]))
    headers = [_webhook_auth(secrets), *draw(odd_headers())]
    return Case(method, b"/webhook/alertmanager", headers, draw(raw_bodies), None, None, "chaos")


# -- Slack ---------------------------------------------------------------------------------------
def slack_signed(secrets: Secrets, body: bytes, ts: str | None = None) -> Headers:
    """Headers of a request Slack signed (``v0=`` HMAC-SHA256 of ``v0:<ts>:<body>``), timestamp now by default."""
    stamp = ts if ts is not None else str(int(secrets.clock()))
    sig = hmac.new(secrets.slack_secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return [(b"X-Slack-Request-Timestamp", stamp.encode()), (b"X-Slack-Signature", f"v0={sig}".encode()),
            (b"Content-Type", b"application/x-www-form-urlencoded")]


ACTION_IDS = ["incident_ack", "incident_resolve", "step_approve", "step_reject", "nope"]


@st.composite
def slack_payloads(draw: Any) -> Any:
    """A ``block_actions`` payload of any shape: right keys with wrong values, or any JSON at all."""
    action = draw(st.one_of(
        st.fixed_dictionaries({"action_id": st.one_of(st.sampled_from(ACTION_IDS), json_values),
                               "value": st.one_of(texts, json_values,
                                                  st.builds(lambda a, b: f"{a}|{b}", texts, texts))}),
        json_values))
    payload = draw(st.one_of(
        st.fixed_dictionaries({"type": st.just("block_actions"), "actions": st.one_of(st.just([action]), json_values),
                               "user": st.one_of(st.fixed_dictionaries({"id": texts, "username": texts}),
                                                 json_values)}),
        json_values))
    return payload


@st.composite
def slack_cases(draw: Any, secrets: Secrets, path: str) -> Case:
    """``POST /slack/interactions`` or ``/slack/commands``: signed forms of any content, bad signatures, chaos."""
    kind = draw(st.integers(0, 9))
    if path == "/slack/interactions":
        form = {"payload": json.dumps(draw(slack_payloads()))}
    else:
        form = {"command": "/runbookd", "text": draw(st.one_of(
            st.sampled_from(["pause", "resume", "status", "", "PAUSE because", "help"]), texts)),
            "user_name": draw(texts), "user_id": draw(texts)}
    if draw(st.booleans()):
        form[draw(texts)] = draw(texts)
    body = urlencode(form).encode() if kind != 9 else draw(raw_bodies)
    if kind < 7:
        return Case(b"POST", path.encode(), slack_signed(secrets, body), body, None, None, "signed")
    if kind == 7:  # bad timestamp or signature: 401
        ts = draw(st.sampled_from(["\u00b2", "1" * 5000, "-1", "", "1e9", "stale", "\xff"]))
        ts = str(int(secrets.clock()) - 3600) if ts == "stale" else ts
        headers = slack_signed(secrets, body, ts) if draw(st.booleans()) else [
            (b"X-Slack-Request-Timestamp", str(int(secrets.clock())).encode()),
            (b"X-Slack-Signature", draw(st.sampled_from([b"v0=\xc3\xa9", b"v0=\xe9", b"v0=", b"", b"v1=00"])))]
        headers = [(k, v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v) for k, v in headers]
        return Case(b"POST", path.encode(), headers, body, 401 if _utf8(body) else None, None, "bad-signature")
    method = draw(st.sampled_from([b"POST", b"GET", b"PUT", b"DELETE"]))
    headers = [*(slack_signed(secrets, body) if draw(st.booleans()) else []), *draw(odd_headers())]
    return Case(method, path.encode(), headers, body, None, None, "chaos")


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- PagerDuty -----------------------------------------------------------------------------------
def pd_signed(secrets: Secrets, body: bytes) -> Headers:
    """Headers of a delivery PagerDuty signed (``v1=`` HMAC-SHA256 of the body)."""
    sig = hmac.new(secrets.pagerduty_secret.encode(), body, hashlib.sha256).hexdigest()
    return [(b"X-PagerDuty-Signature", f"v1={sig}".encode()), (b"Content-Type", b"application/json")]


@st.composite
def pagerduty_cases(draw: Any, secrets: Secrets) -> Case:
    """``POST /webhook/pagerduty``: signed events of any shape, bad signatures, chaos."""
    event = draw(st.one_of(
        st.fixed_dictionaries({
            "id": texts, "event_type": st.one_of(st.sampled_from(["incident.acknowledged", "incident.resolved",
                                                                  "incident.triggered"]), json_values),
            "occurred_at": texts,
            "agent": st.one_of(st.fixed_dictionaries({"id": texts, "summary": texts}), json_values),
            "data": st.one_of(st.fixed_dictionaries({"incident_key": st.one_of(
                texts.map(lambda t: "runbookd-" + t), st.just("runbookd-deadman-x"), json_values)}), json_values)}),
        json_values))
    kind = draw(st.integers(0, 9))
    body = dumps({"event": event}) if kind < 8 else draw(raw_bodies)
    if kind < 8 or kind == 8:
        return Case(b"POST", b"/webhook/pagerduty", pd_signed(secrets, body), body, None, None, "signed")
    sig = draw(st.sampled_from([b"v1=\xc3\xa9", b"v1=\xe9", b"v1=", b"v1", b"", b"v0=ab, v1=\xff"]))
    headers = [(b"X-PagerDuty-Signature", sig), *draw(odd_headers())]
    encoded = any(k == b"Content-Encoding" for k, _ in headers)  # a body that does not decode is 400 first
    return Case(b"POST", b"/webhook/pagerduty", headers, body, None if encoded else 401, None, "bad-signature")


# -- admin API and reload ------------------------------------------------------------------------
ADMIN_ROUTES = [(b"GET", "/api/v1/incidents"), (b"GET", "/api/v1/incidents/{id}"),
                (b"GET", "/api/v1/incidents/{id}/postmortem"), (b"POST", "/api/v1/incidents/{id}/ack"),
                (b"POST", "/api/v1/incidents/{id}/resolve"), (b"POST", "/api/v1/incidents/{id}/approve"),
                (b"POST", "/api/v1/incidents/{id}/reject"), (b"GET", "/api/v1/automation"),
                (b"POST", "/api/v1/automation/pause"), (b"POST", "/api/v1/automation/resume")]


@st.composite
def admin_cases(draw: Any, secrets: Secrets) -> Case:
    """``/api/v1/*`` with the token: odd ids, queries and bodies; and without it (401)."""
    method, route = draw(st.sampled_from(ADMIN_ROUTES))
    ident = draw(st.one_of(texts, st.just("%00"), st.just("%ff%fe"), st.just("..%2f..")))
    path = route.replace("{id}", quote(ident, safe="%") or "x")
    if draw(st.booleans()):
        query = {draw(st.sampled_from(["status", "alertname", "limit", "x"])): draw(st.one_of(
            texts, st.sampled_from(["firing", "resolved", "1" * 5000, "-5", "\u0661", "0"])))}
        path += "?" + urlencode(query)
    if len(path) > 8000:  # aiohttp's parser refuses a request line over 8190 bytes (plain 400, before our code)
        path = path[:8000]
    body = draw(st.one_of(st.just(b""), json_values.map(dumps), raw_bodies,
                          st.fixed_dictionaries({"by": json_values, "step": json_values,
                                                 "reason": json_values}).map(dumps)))
    headers: Headers = [(b"Authorization", f"Bearer {secrets.admin_token}".encode()),
                        (b"Content-Type", b"application/json")]
    if draw(st.integers(0, 9)) == 0:
        # a clean target: a NUL in the target is refused (400) before authentication
        return Case(method, route.replace("{id}", "x").encode(), [(b"Authorization", b"Bearer \xff")], body, 401,
                    None, "no-token")
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from([b"PUT", b"DELETE", b"PATCH"]))
    return Case(method, path.encode(), headers, body, None, None, "admin")


@st.composite
def reload_cases(draw: Any) -> Case:
    """``/-/reload`` (and the other operational endpoints) with any method, body and headers."""
    method = draw(st.sampled_from([b"POST", b"PUT", b"GET", b"DELETE", b"HEAD", b"OPTIONS"]))
    path = draw(st.sampled_from([b"/-/reload", b"/-/reload", b"/-/healthy", b"/-/ready", b"/metrics",
                                 b"/-/reload?x=%00", b"/-/reload/../metrics", b"/%00"]))
    return Case(method, path, draw(odd_headers()), draw(raw_bodies), None, None, "reload")


def endpoint_cases(secrets: Secrets) -> dict[str, Any]:
    """Every endpoint family by name: the strategy of its cases."""
    return {
        "alertmanager": alertmanager_cases(secrets),
        "slack_interactions": slack_cases(secrets, "/slack/interactions"),
        "slack_commands": slack_cases(secrets, "/slack/commands"),
        "pagerduty": pagerduty_cases(secrets),
        "admin": admin_cases(secrets),
        "reload": reload_cases(),
    }
