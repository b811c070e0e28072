"""Alertmanager webhook payload version 4, as Alertmanager 0.25+ sends it.

Follows ``notify/webhook/webhook.go`` (``Message``) and ``template.Data`` of prometheus/alertmanager.
Unknown keys are *ignored*, unlike our config: newer Alertmanagers add keys (``notification_reason``,
``routeLabels``) and an upgrade must not break paging. Times are RFC 3339 strings with 0–9 fractional
digits (Go's ``time.Time`` JSON); a firing alert's ``endsAt`` is the zero time ``0001-01-01T00:00:00Z``.

What is refused and what is repaired (docs/operations.md, "What runbookd refuses at the edge"):
a time that is not an RFC 3339 string, or whose UTC instant does not exist, is refused; so is a
``fingerprint`` that is not 1–64 visible ASCII characters and a ``truncatedAlerts`` that is not a
JSON integer in 0..2**63-1. A U+0000 in a label or annotation name or value, or in ``generatorURL``,
is replaced by U+FFFD (PostgreSQL text cannot hold it; refusing would lose the whole group's page).
Older bodies are accepted: a missing ``version`` is "4", a missing ``fingerprint`` is computed as
Alertmanager computes it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
)

from receiver.errors import PayloadError
from receiver.ingest.fingerprint import labelset_fingerprint
from receiver.model import AlertRecord

_ZERO_YEAR = 1
_NUL = "\x00"
_REPLACEMENT = "\ufffd"
# RFC 3339 section 5.6 date-time (``T``/``t``/space, ``Z``/``z``), with Go's 0-9 fractional digits.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)
_MAX_INT64 = 2**63 - 1


@dataclass
class Repairs:
    """What ``parse_payload`` repaired in one body: NULs replaced per field, and legacy shapes read."""

    nul_replaced: dict[str, int] = field(default_factory=dict)
    #: ``no_version`` and/or ``no_fingerprint``.
    legacy: list[str] = field(default_factory=list)


def _scrub(v: str, where: str, repairs: Repairs) -> str:
    if _NUL not in v:
        return v
    repairs.nul_replaced[where] = repairs.nul_replaced.get(where, 0) + 1
    return v.replace(_NUL, _REPLACEMENT)


def _scrub_map(v: dict[str, str], where: str, repairs: Repairs) -> dict[str, str]:
    return {_scrub(k, where, repairs): _scrub(s, where, repairs) for k, s in v.items()}


@functools.lru_cache(maxsize=1024)
def _parse_time(v: str) -> datetime:
    # Cached: the alerts of a group share startsAt, and every firing alert's endsAt is the zero time.
    if not _RFC3339.fullmatch(v):
        raise ValueError(f"not an RFC 3339 time with offset: {v[:64]!r}")
    try:
        dt = datetime.fromisoformat(v.upper().replace(" ", "T"))
        dt.astimezone(UTC)  # 0001-01-01T00:00:00+01:00 and 9999-12-31T23:59:59-01:00 have no UTC instant
    except (ValueError, OverflowError):
        raise ValueError(f"not a time that exists in UTC: {v!r}") from None
    return dt


def _rfc3339(v: Any) -> datetime:
    """An RFC 3339 string as an aware ``datetime`` whose UTC instant exists; ``ValueError`` otherwise."""
    if not isinstance(v, str):
        raise ValueError("must be an RFC 3339 time string, e.g. 2026-11-22T01:37:32.084Z")
    return _parse_time(v)


Rfc3339 = Annotated[datetime, PlainValidator(_rfc3339)]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,64}$")]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WebhookAlert(_Lenient):
    """One alert of the payload (``template.Alert``); ``fingerprint`` is ``None`` before Alertmanager 0.19."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: Rfc3339
    endsAt: Rfc3339 | None = None
    generatorURL: str = ""
    fingerprint: Fingerprint | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("must not be empty")
        return v

    def scrubbed(self, repairs: Repairs) -> WebhookAlert:
        """This alert with U+0000 replaced by U+FFFD in labels, annotations and ``generatorURL``."""
        return self.model_copy(update={
            "labels": _scrub_map(self.labels, "labels", repairs),
            "annotations": _scrub_map(self.annotations, "annotations", repairs),
            "generatorURL": _scrub(self.generatorURL, "generatorURL", repairs)})


class WebhookPayload(_Lenient):
    """The whole body of ``POST /webhook/alertmanager``; a missing ``version`` reads as "4"."""

    version: Literal["4"] = "4"
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: StrictInt = Field(default=0, ge=0, le=_MAX_INT64)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[WebhookAlert]


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_payload(body: bytes, repairs: Repairs | None = None) -> WebhookPayload:
    """Parse and validate a webhook body; what it repaired is added to ``repairs``.

    Raises ``PayloadError`` whose ``field`` is the path of the first bad field (``alerts[0].labels``)
    or ``None`` when the body is not JSON at all.
    """
    repairs = repairs if repairs is not None else Repairs()
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as e:
        err = e.errors()[0]
        if err.get("type") == "json_invalid":
            raise PayloadError(f"body is not valid JSON: {err.get('msg', '')}") from None
        loc = tuple(err.get("loc", ()))
        # ``endsAt: Rfc3339 | None`` reports the branch too (``alerts.0.endsAt.function-plain[...]``).
        if len(loc) > 3 and loc[2] == "endsAt":
            loc = loc[:3]
        path = _field_path(loc) or None
        msg = err.get("msg", "invalid")
        if err.get("type") == "missing":
            msg = "required field is missing"
        elif err.get("type") == "string_pattern_mismatch" and loc[-1:] == ("fingerprint",):
            msg = "must be 1-64 visible ASCII characters (Alertmanager sends 16 hex digits)"
        elif err.get("type") == "literal_error" and loc == ("version",):
            msg = f"unsupported payload version (expected \"4\"): {msg}"
        raise PayloadError(msg, field=path) from None
    # JSON can carry U+0000 only as the escape \u0000 (raw control characters are invalid JSON), so
    # a body without that escape needs no scrubbing pass.
    if b"\\u0000" in body:
        payload = payload.model_copy(update={"alerts": [a.scrubbed(repairs) for a in payload.alerts]})
    if "version" not in payload.model_fields_set:
        repairs.legacy.append("no_version")
    if any(a.fingerprint is None for a in payload.alerts):
        repairs.legacy.append("no_fingerprint")
    return payload


def canonical_time(dt: datetime) -> str:
    """Return ``dt`` as canonical RFC 3339 UTC with microseconds (the alert key's ``starts_at``)."""
    text = dt.isoformat(timespec="microseconds")
    if text.endswith("+00:00"):  # already UTC, as Alertmanager sends it
        return text[:-6] + "Z"
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def to_records(payload: WebhookPayload) -> list[AlertRecord]:
    """Turn the payload's alerts into store records; a firing alert's ``endsAt`` (zero or a
    Prometheus resend deadline) becomes ``None``. Each record carries the body's ``truncatedAlerts``
    and ``groupKey`` (a truncated group must not resolve on the alerts shown: docs/escalation.md)."""
    out = []
    times: dict[datetime, tuple[str, float]] = {}  # alerts of a group often share startsAt
    for a in payload.alerts:
        start = times.get(a.startsAt)
        if start is None:
            start = times[a.startsAt] = (canonical_time(a.startsAt), a.startsAt.timestamp())
        ends = a.endsAt if a.status == "resolved" and a.endsAt is not None and a.endsAt.year > _ZERO_YEAR else None
        fingerprint = a.fingerprint if a.fingerprint is not None else labelset_fingerprint(a.labels)
        out.append(AlertRecord(fingerprint, start[0], a.status, a.labels, a.annotations, start[1],
                               ends.timestamp() if ends is not None else None, a.generatorURL,
                               payload.truncatedAlerts, payload.groupKey))
    return out
