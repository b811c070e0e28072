"""The benchmark's baseline: an aiohttp server whose webhook route only reads the body and answers 200.

It runs the same aiohttp version, event loop and HTTP parser as ``runbookd serve`` (and, like it, no
access log), so the ratio runbookd / no-op isolates what runbookd itself adds: parsing, the durable
commit, metrics and the dispatcher. ``GET /-/ready`` lets the harness wait for it.

Usage: ``python bench/noop_server.py --listen 127.0.0.1:PORT`` (stops on SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse

from aiohttp import web

OK = b'{"status":"ok"}'


async def webhook(request: web.Request) -> web.Response:
    """Read the whole body and answer 200 with a small JSON body."""
    await request.read()
    return web.Response(body=OK, content_type="application/json")


async def ready(_: web.Request) -> web.Response:
    """Readiness probe for the harness."""
    return web.Response(text="ready\n")


def main() -> None:
    """Serve until SIGINT/SIGTERM."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", default="127.0.0.1:9097", help="host:port")
    args = p.parse_args()
    host, _, port = args.listen.rpartition(":")
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_routes([web.post("/webhook/alertmanager", webhook), web.get("/-/ready", ready)])
    web.run_app(app, host=host, port=int(port), access_log=None, print=None)


if __name__ == "__main__":
    main()
