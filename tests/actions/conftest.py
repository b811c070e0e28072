"""Fixtures for action tests: the fake trading system and fake Alpaca, served over HTTP, and real clients."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from receiver.settings import AlpacaConfig
from tests.fakes import running
from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.trading import FakeTradingSystem

TRADING_TOKEN = "trading-admin-token"
ALPACA_KEY = "PKTESTKEY"
ALPACA_SECRET = "test-secret"


@pytest.fixture
async def trading() -> AsyncIterator[FakeTradingSystem]:
    """A running fake trading system that requires ``TRADING_TOKEN``; ``trading.url`` is its base URL."""
    async with running(FakeTradingSystem(token=TRADING_TOKEN)) as fake:
        yield fake


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """A real httpx client, closed after the test."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def alpaca() -> AsyncIterator[FakeAlpaca]:
    """A running fake Alpaca seeded with three open orders and a SPY position."""
    async with running(FakeAlpaca(api_key=ALPACA_KEY, secret_key=ALPACA_SECRET)) as fake:
        yield fake


@pytest.fixture
def alpaca_config(alpaca: FakeAlpaca) -> AlpacaConfig:
    """Alpaca configured against the fake (paper account)."""
    return AlpacaConfig(api_key=ALPACA_KEY, secret_key=ALPACA_SECRET, paper=True, url_override=alpaca.url)


@pytest.fixture
def dead_url() -> str:
    """A base URL where nothing listens (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
