"""Alertmanager webhook payload version 4, as Alertmanager 0.25+ sends it.

Follows ``notify/webhook/webhook.go`` (``Message``) and ``template.Data`` of prometheus/alertmanager.
Unknown keys are *ignored*, unlike our config: newer Alertmanagers add keys (``notification_reason``,
``routeLabels``) and an upgrade must not break paging. Times are RFC 3339 with 0–9 fractional digits;
a firing alert's ``endsAt`` is the zero time ``0001-01-01T00:00:00Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from receiver.errors import PayloadError
from receiver.model import AlertRecord

_ZERO_YEAR = 1


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WebhookAlert(_Lenient):
    """One alert of the payload (``template.Alert``)."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("must not be empty")
        return v


class WebhookPayload(_Lenient):
    """The whole body of ``POST /webhook/alertmanager``."""

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = Field(default=0, ge=0)
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


def parse_payload(body: bytes) -> WebhookPayload:
    """Parse and validate a webhook body.

    Raises ``PayloadError`` whose ``field`` is the path of the first bad field (``alerts[0].labels``)
    or ``None`` when the body is not JSON at all.
    """
    try:
        return WebhookPayload.model_validate_json(body)
    except ValidationError as e:
        err = e.errors()[0]
        if err.get("type") == "json_invalid":
            raise PayloadError(f"body is not valid JSON: {err.get('msg', '')}") from None
        loc = tuple(err.get("loc", ()))
        path = _field_path(loc) or None
        msg = err.get("msg", "invalid")
        if err.get("type") == "missing":
            msg = "required field is missing"
        elif err.get("type") == "literal_error" and loc == ("version",):
            msg = f"unsupported payload version (expected \"4\"): {msg}"
        raise PayloadError(msg, field=path) from None


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
        out.append(AlertRecord(a.fingerprint, start[0], a.status, a.labels, a.annotations, start[1],
                               ends.timestamp() if ends is not None else None, a.generatorURL,
                               payload.truncatedAlerts, payload.groupKey))
    return out
