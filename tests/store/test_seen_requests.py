"""``Tx.first_use``: the replay guard's record of signed requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

T0 = 1_800_000_000.0


async def test_a_key_is_used_once_until_it_expires(store: Any) -> None:
    """The first use of a key is True, a second before its expiry False, and after it True again."""
    assert await store.transaction(lambda tx: tx.first_use("slack:a", T0 + 300, T0)) is True
    assert await store.transaction(lambda tx: tx.first_use("slack:a", T0 + 300, T0 + 299)) is False
    assert await store.transaction(lambda tx: tx.first_use("slack:b", T0 + 300, T0 + 1)) is True
    assert await store.transaction(lambda tx: tx.first_use("slack:a", T0 + 700, T0 + 301)) is True
    assert await store.transaction(lambda tx: tx.first_use("slack:a", T0 + 700, T0 + 302)) is False


async def test_a_use_rolled_back_with_its_transaction_is_not_remembered(store: Any) -> None:
    """A key recorded by a transaction that fails afterwards (the change it guarded failed) is not
    kept: the retry of that request is its first use."""

    def fails(tx: Any) -> None:
        assert tx.first_use("pagerduty:e1", T0 + 60, T0)
        raise RuntimeError("the guarded change failed")

    try:
        await store.transaction(fails)
    except RuntimeError:
        pass
    assert await store.transaction(lambda tx: tx.first_use("pagerduty:e1", T0 + 60, T0)) is True


async def test_concurrent_uses_of_one_key_let_exactly_one_through(store: Any) -> None:
    """Eight transactions racing with the same key (replicas receiving one replayed request): one True."""
    import asyncio

    got = await asyncio.gather(*(store.transaction(lambda tx: tx.first_use("slack:race", T0 + 300, T0))
                                 for _ in range(8)))
    assert sorted(got) == [False] * 7 + [True]
