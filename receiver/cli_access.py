"""``runbookd token create|list|revoke`` and ``runbookd audit verify|export`` (docs/access.md, docs/audit.md).

They open the configured store directly (as ``migrate`` does), so they work beside running replicas.
Exit codes: 0 success; 1 a failed check, an unknown token or person, or an unusable store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from receiver.access import tokens
from receiver.access.people import Directory
from receiver.access.roles import ROLES
from receiver.clock import parse_rfc3339
from receiver.errors import RunbookdError
from receiver.settings import Settings
from receiver.store import audit
from receiver.store import tokens as token_rows

T = TypeVar("T")


def _with_store(s: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    from receiver.store import open_store

    async def run() -> T:
        store = open_store(s.storage, base_dir=s.base_dir)
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(run())


def cmd_token(args: argparse.Namespace, s: Settings) -> int:
    """``token create NAME [--role R]`` prints a new token once; ``list``; ``revoke ID``."""
    actor = f"cli:{args.by}" if args.by else "cli"
    try:
        if args.token_command == "create":
            directory = Directory(s.access)
            if args.role is None and directory.person(args.name) is None:
                print(f"error: {args.name!r} is not a person of access: in the config; declare them, or give "
                      "--role for a service token", file=sys.stderr)
                return 1
            new = _with_store(s, lambda st: st.transaction(
                lambda tx: tokens.create(tx, args.name, args.role, by=actor, now=time.time())))
            print(new.secret)
            print(f"token {new.id} for {args.name}: shown once, only its hash is stored", file=sys.stderr)
            return 0
        if args.token_command == "list":
            rows = _with_store(s, lambda st: st.read(token_rows.listing))
            for r in rows:
                state = f"revoked {audit.iso(r.revoked_at)}" if r.revoked_at else "valid"
                print(f"{r.id}\t{r.name}\t{r.role or '(person)'}\t{audit.iso(r.created_at)}\t{state}")
            return 0
        ok = _with_store(s, lambda st: st.transaction(lambda tx: token_rows.revoke(tx, args.id, time.time(), actor)))
        if not ok:
            print(f"error: no valid token {args.id!r}", file=sys.stderr)
            return 1
        print(f"token {args.id} revoked")
        return 0
    except RunbookdError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def timestamp_arg(text: str) -> float:
    """An argparse type: an RFC 3339 time with a zone (``2026-01-05T15:00:00Z``) as epoch seconds (UTC).

    Raises ``argparse.ArgumentTypeError`` for anything else, so argparse names the option.
    """
    try:
        return parse_rfc3339(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _iso_arg(text: str) -> str:
    return audit.iso(timestamp_arg(text))


def cmd_audit(args: argparse.Namespace, s: Settings) -> int:
    """``audit verify``: exit 0, or 1 naming the first broken seq; ``audit export``: JSON lines."""
    try:
        if args.audit_command == "verify":
            broken, n = _with_store(s, lambda st: st.read(lambda tx: audit.first_broken(audit.export_rows(tx._x))))
            if broken is not None:
                print(f"audit log BROKEN at seq {broken} (checked {n} record(s))", file=sys.stderr)
                return 1
            print(f"audit log OK: {n} record(s), chain unbroken")
            return 0
        rows = _with_store(s, lambda st: st.read(lambda tx: list(audit.export_rows(tx._x, args.since, args.until))))
        for r in rows:
            sys.stdout.write(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n")
        return 0
    except RunbookdError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def add_parsers(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
                run: Callable[[Callable[[argparse.Namespace, Settings], int]], Callable[[argparse.Namespace], int]]
                ) -> None:
    """Add ``token`` and ``audit`` to the ``runbookd`` sub-command parser ``sub``."""
    sp = sub.add_parser("token", help="create, list or revoke personal API tokens")
    ts = sp.add_subparsers(dest="token_command", required=True)
    c = ts.add_parser("create", help="print a new token once (only its hash is stored)")
    with_config(c)
    c.add_argument("name", metavar="NAME", help="a person of access:, or a service name with --role")
    c.add_argument("--role", choices=ROLES, default=None, help="fixed role (default: the person's role in force)")
    c.add_argument("--by", default=None, help="who creates it (recorded in the audit log)")
    lp = ts.add_parser("list", help="list tokens (id, name, role, created, state)")
    with_config(lp)
    r = ts.add_parser("revoke", help="revoke a token by id")
    with_config(r)
    r.add_argument("id", metavar="ID")
    r.add_argument("--by", default=None, help="who revokes it (recorded in the audit log)")
    for p in (lp,):
        p.set_defaults(by=None)
    sp.set_defaults(fn=run(cmd_token))
    sp = sub.add_parser("audit", help="verify or export the hash-chained audit log")
    au = sp.add_subparsers(dest="audit_command", required=True)
    v = au.add_parser("verify", help="exit 0 when the chain is unbroken, else 1 naming the first broken seq")
    with_config(v)
    e = au.add_parser("export", help="print records as JSON lines (docs/audit.md verifies them)")
    with_config(e)
    e.add_argument("--since", type=_iso_arg, default=None, metavar="TIME", help="RFC 3339, inclusive")
    e.add_argument("--until", type=_iso_arg, default=None, metavar="TIME", help="RFC 3339, exclusive")
    sp.set_defaults(fn=run(cmd_audit))
