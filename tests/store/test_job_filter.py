"""Claims filtered by ``JobFilter`` (the dispatcher's bulkheads), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from receiver.incidents.bulkheads import bulkheads
from receiver.store.base import JobFilter

T0 = 1_800_000_000.0
KINDS = ["step", "page", "update", "refresh", "resolve", "ack", "notice", "postmortem", "digest",
         "deadman", "deadman_resolve", "approval"]
RECEIVERS = ["slack-critical", "pagerduty-primary", "email-oncall", "gone-from-config", None]


@dataclass
class Rcv:
    kind: str


async def fill(store: Any) -> int:
    def add(tx: Any) -> int:
        n = 0
        for k in KINDS:
            for r in RECEIVERS:
                n += tx.enqueue(f"t:{k}:{r}", k, "", {} if r is None else {"receiver": r}, T0, T0)
        return n

    return int(await store.transaction(add))


async def test_every_row_belongs_to_exactly_one_bulkhead(store: Any) -> None:
    """The bulkheads' claims together take every due row exactly once; none is left, none is taken twice."""
    total = await fill(store)
    heads = bulkheads({"slack-critical": Rcv("slack"), "pagerduty-primary": Rcv("pagerduty"),
                       "email-oncall": Rcv("email")}, {})

    def claim(tx: Any) -> dict[str, list[str]]:
        return {b.name: [j.key for j in tx.claim_jobs(T0, 1000, "t", 30, b.where)] for b in heads}

    got = await store.transaction(claim)
    keys = [k for ks in got.values() for k in ks]
    assert len(keys) == len(set(keys)) == total
    assert {"t:page:pagerduty-primary", "t:deadman:None", "t:ack:pagerduty-primary"} <= set(got["pagerduty"])
    assert "t:page:slack-critical" in got["slack"] and "t:page:email-oncall" in got["email"]
    assert set(got["actions"]) == {f"t:step:{r}" for r in RECEIVERS}
    assert {"t:update:None", "t:page:gone-from-config", "t:page:None", "t:digest:None"} <= set(got["other"])


async def test_a_filtered_claim_takes_no_more_than_its_limit(store: Any) -> None:
    """A claim of one receiver's pages takes only those rows, at most ``limit`` of them."""
    await fill(store)
    where = JobFilter(include=((("page", "ack"), ("slack-critical",)),))
    jobs = await store.transaction(lambda tx: tx.claim_jobs(T0, 1, "t", 30, where))
    assert [j.key for j in jobs] == ["t:page:slack-critical"]
    jobs = await store.transaction(lambda tx: tx.claim_jobs(T0, 10, "t", 30, where))
    assert [j.key for j in jobs] == ["t:ack:slack-critical"]
