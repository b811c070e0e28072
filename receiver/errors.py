"""The exceptions runbookd raises, in one tree.

::

    RunbookdError
    ├── ConfigError              runbookd.yml is unreadable or invalid
    ├── RuleFileError            a rule file is invalid (carries file, line, rule)
    ├── PayloadError             a webhook body is malformed (carries the field path)
    ├── StoreError               the store cannot read or commit
    │   ├── StoreUnavailable     the store is unreachable (ingest answers 503)
    │   ├── StoreRejected        the store cannot hold this request's data (ingest answers 400)
    │   └── StoreConflict        a uniqueness rule refused the write (another writer won; retry)
    ├── ActionError              a playbook action failed (carries retryable, reason)
    └── DeliveryError            a notification could not be delivered (carries retryable, reason)

Plugins (``actions/*``, ``notify/*``) translate vendor exceptions at their edge into
``ActionError`` / ``DeliveryError`` so nothing vendor-specific leaks upwards.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime


class RunbookdError(Exception):
    """Base class of every error runbookd raises on purpose."""


class ConfigError(RunbookdError):
    """Raised when runbookd.yml cannot be read, expanded or validated."""


class RuleFileError(RunbookdError):
    """Raised for an invalid rule file; ``str()`` reads ``file:line: rule 'x': message``.

    Attributes: ``file`` (path as given), ``line`` (1-based, 0 when unknown), ``rule`` (rule,
    playbook, receiver or policy name, or ``None``), ``message``.
    """

    def __init__(self, file: str, line: int, rule: str | None, message: str) -> None:
        self.file = file
        self.line = line
        self.rule = rule
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        who = f" rule '{self.rule}':" if self.rule else ""
        return f"{where}:{who} {self.message}"


class PayloadError(RunbookdError):
    """Raised when a webhook body is malformed; ``field`` is the path of the bad field or ``None``."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message if field is None else f"{field}: {message}")


class StoreError(RunbookdError):
    """Raised when the store fails to read or commit."""


class StoreUnavailable(StoreError):
    """Raised when the store cannot be reached or cannot commit at all; ingest answers 503."""


class StoreRejected(StoreError):
    """Raised when a commit failed because of the data of one request, not an outage (e.g. a value
    PostgreSQL cannot hold): the group commit retries its requests one by one and only the request
    that fails alone gets this; ingest answers 400."""


class StoreConflict(StoreError):
    """Raised when a write breaks a uniqueness rule, e.g. a second open incident for one identity."""


class _Classified(RunbookdError):
    """An error classified for retrying: ``retryable`` says whether the same call may succeed later."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        self.reason = reason
        self.retryable = retryable
        super().__init__(reason)


class ActionError(_Classified):
    """Raised by an action plugin when its side effect failed or its outcome is unknown.

    ``retryable`` is true for transport errors, 5xx and 429 of idempotent calls; false otherwise.
    """


class DeliveryError(_Classified):
    """Raised by a notifier when a page or message was not delivered.

    ``retryable`` is true for transport errors, 5xx and 429; false for other 4xx and bad config.
    ``retry_after``: seconds the vendor asked to wait (``Retry-After`` of a 429/503), or ``None``.
    ``unknown``: the request may have reached the vendor (a time-out or a dropped connection after
    sending), so a re-send must first check whether it took effect.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None,
                 unknown: bool = False) -> None:
        super().__init__(reason, retryable=retryable)
        self.retry_after = retry_after
        self.unknown = unknown


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of an HTTP ``Retry-After`` header (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), or ``None``.

    A date is read against the wall clock; negative, unparsable or absent values give ``None``.
    """
    if not value:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            secs = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return secs if secs >= 0 and secs == secs and secs != float("inf") else None


def classify_status(status: int) -> bool:
    """Return whether an HTTP status is worth retrying: 5xx and 429 are, other codes are not."""
    return status >= 500 or status == 429
