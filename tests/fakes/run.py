"""Run the four fakes as one process, for end-to-end tests.

``python -m tests.fakes.run [--port-file PATH] [--host 127.0.0.1] [--base-port N] [--slack-token …]
[--alpaca-key …] [--alpaca-secret …] [--trading-token …]`` starts FakeSlack, FakePagerDuty, FakeAlpaca
and FakeTradingSystem on free ports (or, with ``--base-port N``, on N, N+1, N+2 and N+3 in that order,
as deploy/compose.yml runs them), then writes ``{"slack": url, "pagerduty": url, "alpaca": url,
"trading": url}`` (URLs without a trailing slash) to PATH atomically, and serves until SIGTERM or
SIGINT. Each fake answers ``GET /_requests`` and ``POST /_reset`` (see ``tests/fakes/base.py``).
Point runbookd at them with SLACK_API_URL=<slack>/api/, PAGERDUTY_EVENTS_URL=<pagerduty>,
ALPACA_BASE_URL=<alpaca>, TRADING_API_URL=<trading>.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path

from tests.fakes import serve
from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.trading import FakeTradingSystem


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m tests.fakes.run", description=__doc__.splitlines()[0])
    p.add_argument("--port-file", help="where to write the JSON map of base URLs")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--base-port", type=int, default=0,
                   help="serve slack, pagerduty, alpaca, trading on this port and the next three (0: free ports)")
    p.add_argument("--slack-token", default="xoxb-test-token")
    p.add_argument("--alpaca-key", default="PKTESTKEY")
    p.add_argument("--alpaca-secret", default="test-secret")
    p.add_argument(
        "--trading-token",
        default="trading-admin-token",
        help="admin token the fake trading system requires ('' for none)",
    )
    return p.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    """Start the fakes, write the port file, and serve until SIGTERM/SIGINT."""
    args = parse_args(argv)
    fakes = {
        "slack": FakeSlack(token=args.slack_token),
        "pagerduty": FakePagerDuty(),
        "alpaca": FakeAlpaca(api_key=args.alpaca_key, secret_key=args.alpaca_secret),
        "trading": FakeTradingSystem(token=args.trading_token or None),
    }
    # Handlers first: whoever reads the port file (or the printed map) may send SIGTERM at once.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runners, urls = [], {}
    for i, (name, fake) in enumerate(fakes.items()):
        runner, url = await serve(fake.app, args.host, args.base_port + i if args.base_port else 0)
        runners.append(runner)
        urls[name] = url
    if args.port_file:
        path = Path(args.port_file)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(urls), encoding="utf-8")
        os.replace(tmp, path)
    print(json.dumps(urls), flush=True)  # after the port file: a reader of either finds both

    try:
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
