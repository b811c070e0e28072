"""The hash-chained audit log: one append-only ``audit_log`` row per decision or change.

A record is ``seq`` (1, 2, … with no gap), ``at`` (UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``), ``actor``
(a person's name, ``admin-token``, or ``runbookd`` for automatic changes), ``action`` (a timeline
kind such as ``incident.acknowledged``, or ``automation.paused``, ``config.reloaded``,
``token.created``, ``access.refused`` …), ``subject`` (an incident id, a token id, ``automation`` …),
``data`` (the JSON text of an object, as a string: the hash covers those exact characters, so no JSON
re-encoding can change it) and ``prev_hash``; its ``hash`` is the SHA-256 (hex) of::

    json.dumps({"seq", "at", "actor", "action", "subject", "data", "prev_hash"},
               sort_keys=True, separators=(",", ":")).encode("utf-8")

(Python's ``json`` with its default ``ensure_ascii=True``), and ``prev_hash`` is the previous
record's ``hash`` (``GENESIS``, 64 zeros, for ``seq`` 1). docs/audit.md gives the algorithm and a
verifier that needs nothing but the export.

Records are queued on the transaction (``SqlTx.audit``; every timeline event queues one) and
written by ``append`` just before its COMMIT: on PostgreSQL under a transaction-scoped advisory lock
per schema, taken after every row lock of the transaction, so replicas append one chain in commit
order without gaps and the lock cannot take part in a deadlock. SQLite has one writer at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _q  # what json.dumps uses for str (C)
from typing import Any

import orjson

GENESIS = "0" * 64
"""``prev_hash`` of the first record."""

#: Second key of ``pg_advisory_xact_lock(int, int)`` serialising appends ("rbau"); the first is the schema's.
_PG_LOCK = "SELECT pg_advisory_xact_lock(1919050101, hashtext(current_schema()))"
_INSERT = ("INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
SYSTEM = "runbookd"
"""The actor of automatic changes."""


def iso(ts: float) -> str:
    """``ts`` (epoch seconds) as the audit log's fixed-width UTC time ``2026-12-04T19:11:30.123456Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def data_text(data: Any) -> str:
    """``data`` as the compact JSON text an audit record stores (non-JSON values become strings)."""
    return orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def record_hash(seq: int, at: str, actor: str, action: str, subject: str, data: str, prev_hash: str) -> str:
    """The SHA-256 (hex) of the canonical JSON of one record; ``data`` is its stored JSON *text*.

    The text is built directly, exactly as ``json.dumps(record, sort_keys=True, separators=(",", ":"))``
    writes it (keys in sorted order, strings through the same ASCII escaping): it is computed once per
    record on the ingest path.
    """
    doc = (f'{{"action":{_q(action)},"actor":{_q(actor)},"at":{_q(at)},"data":{_q(data)},'
           f'"prev_hash":{_q(prev_hash)},"seq":{int(seq)},"subject":{_q(subject)}}}')
    return hashlib.sha256(doc.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class Pending:
    """A record queued on a transaction: ``at`` epoch seconds, ``data`` its JSON text (``data_text``)."""

    at: float
    actor: str
    action: str
    subject: str
    data: str


def append(x: Any, cur: Any, pending: list[Pending], postgres: bool) -> None:
    """Write ``pending`` at the end of the chain, in the open transaction of ``x`` (``SqlTx._x``).

    ``cur`` is the transaction's DB-API cursor (for one ``executemany``). Raises the driver's error
    (the transaction then rolls back whole, with the change the records describe).
    """
    if not pending:
        return
    if postgres:
        x(_PG_LOCK)
    row = x("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)
    rows = []
    ats: dict[float, str] = {}  # a batch's records mostly share one time
    for p in pending:
        seq += 1
        at = ats.get(p.at) or ats.setdefault(p.at, iso(p.at))
        h = record_hash(seq, at, p.actor, p.action, p.subject, p.data, prev)
        rows.append((seq, at, p.actor, p.action, p.subject, p.data, prev, h))
        prev = h
    pending.clear()
    cur.executemany(_INSERT.replace("?", "%s") if postgres else _INSERT, rows)


def export_rows(x: Any, since: str | None = None, until: str | None = None) -> Iterator[dict[str, Any]]:
    """Every record (``since <= at < until`` when given, ISO UTC strings as ``iso``), oldest first, as a
    dict; ``data`` is the stored JSON text (what the hash covers)."""
    where, params = [], []
    if since:
        where.append("at >= ?")
        params.append(since)
    if until:
        where.append("at < ?")
        params.append(until)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    cur = x(f"SELECT seq, at, actor, action, subject, data, prev_hash, hash FROM audit_log{clause} ORDER BY seq",
            params)
    for r in cur.fetchall():
        yield {"seq": int(r[0]), "at": r[1], "actor": r[2], "action": r[3], "subject": r[4],
               "data": r[5], "prev_hash": r[6], "hash": r[7]}


def first_broken(records: Iterator[dict[str, Any]]) -> tuple[int | None, int]:
    """Check a whole chain from ``seq`` 1: returns (the first ``seq`` whose number, link or hash is wrong,
    or ``None``; records checked). A record is broken when its ``seq`` is not the previous one's + 1,
    its ``prev_hash`` is not the previous ``hash``, or its ``hash`` is not the hash of its content."""
    prev, expected, n = GENESIS, 1, 0
    for r in records:
        n += 1
        if r["seq"] != expected or r["prev_hash"] != prev or r["hash"] != record_hash(
                r["seq"], r["at"], r["actor"], r["action"], r["subject"], r["data"], r["prev_hash"]):
            return (expected if r["seq"] > expected else r["seq"]), n
        prev, expected = r["hash"], expected + 1
    return None, n
