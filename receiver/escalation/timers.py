"""Durable timers that belong to no incident: the daily digest and the dead man's switch.

Both are planned inside a store transaction and become ordinary work rows with idempotency keys
(``digest:<severity>:<date>``, ``deadman:<last heartbeat>``), so they fire exactly once even across
restarts and replicas; a late process catches up with one digest, not one per missed day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from receiver.rules.model import DailyDigest
from receiver.store.base import HEARTBEAT_KEY

#: Where the heartbeat's last arrival is kept; the store's ingest writes it in the webhook's commit.
HEARTBEAT = HEARTBEAT_KEY
DEADMAN = "deadman.paged_for"
NO_INCIDENT = ""


def next_digest_at(d: DailyDigest, now: float) -> float:
    """The next ``HH:MM`` in the digest's time zone strictly after ``now`` (epoch seconds)."""
    tz = ZoneInfo(d.timezone)
    hh, mm = (int(x) for x in d.at.split(":"))
    local = datetime.fromtimestamp(now, tz)
    cand = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if cand.timestamp() <= now:
        cand = (cand + timedelta(days=1)).replace(hour=hh, minute=mm)
    return cand.timestamp()


def plan_digests(tx: Any, policies: Any, now: float) -> int:
    """Ensure one pending digest row per severity that opts in, due at its next time. Returns rows added."""
    added = 0
    for severity, policy in policies.items():
        d = policy.digest
        if d is None:
            continue
        due = next_digest_at(d, now)
        day = datetime.fromtimestamp(due, UTC).strftime("%Y-%m-%dT%H:%M")
        added += tx.enqueue(f"digest:{severity}:{day}", "digest", NO_INCIDENT,
                            {"severity": severity, "since": due - 86400, "until": due}, due, now)
    return added


def plan_deadman(tx: Any, now: float, timeout: float) -> str | None:
    """Page when the heartbeat is older than ``timeout``; resolve that page once it comes back.

    Returns ``"page"``, ``"resolve"`` or ``None`` (nothing to do). No heartbeat ever seen: nothing.
    """
    last_s = tx.get_state(HEARTBEAT)
    if last_s is None:
        return None
    last = float(last_s)
    paged = tx.get_state(DEADMAN)
    if paged is None and now - last > timeout:
        tx.enqueue(f"deadman:{last_s}", "deadman", NO_INCIDENT, {"last_seen": last, "timeout": timeout}, now, now)
        tx.set_state(DEADMAN, last_s)
        return "page"
    if paged is not None and last > float(paged):
        tx.enqueue(f"deadman_resolve:{paged}", "deadman_resolve", NO_INCIDENT, {"last_seen": float(paged)}, now, now)
        tx.set_state(DEADMAN, None)
        return "resolve"
    return None
