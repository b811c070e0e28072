"""``runbookd oncall [--at TIME] [SCHEDULE]``: who is on call and until when (docs/escalation.md, "Schedules").

Reads the schedules of the rule files and the overrides from the configured store (opened directly, as
``token`` does, so it works beside running replicas). One line per schedule:
``primary: alice until 2026-03-09T13:00:00.000Z (layer:weekly)``. Exit codes: 0 printed; 1 an invalid
config or rule file, an unknown schedule, or an unusable store.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from receiver.cli_access import _with_store, timestamp_arg
from receiver.errors import RunbookdError
from receiver.oncall.requests import oncall_text
from receiver.oncall.resolve import on_call
from receiver.store import oncall as rows


def cmd_oncall(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    """Print who is on call at ``args.at`` (default now) in ``args.schedule`` or every schedule."""
    loaded = load(args)
    if loaded is None:
        return 1
    s, report = loaded
    if report.ruleset is None:
        for err in report.errors:
            print(f"error: {err}", file=sys.stderr)
        return 1
    ruleset = report.ruleset
    names = [args.schedule] if args.schedule else sorted(ruleset.schedules)
    unknown = [n for n in names if n not in ruleset.schedules]
    if unknown:
        known = ", ".join(sorted(ruleset.schedules)) or "none defined"
        print(f"error: unknown schedule {unknown[0]!r} (known: {known})", file=sys.stderr)
        return 1
    at = time.time() if args.at is None else args.at
    try:
        overrides = _with_store(s, lambda st: st.read(lambda tx: rows.current(tx, at)))
    except RunbookdError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name in names:
        print(oncall_text(on_call(ruleset.schedules[name], at, overrides, in_interval=ruleset.in_interval)))
    if not names:
        print("no schedules are defined (schedules: in rule files)", file=sys.stderr)
    return 0


def add_parser(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
               load: Callable[[argparse.Namespace], Any]) -> None:
    """Add ``oncall`` to the ``runbookd`` sub-command parser ``sub``."""
    sp = sub.add_parser("oncall", help="print who is on call and until when")
    with_config(sp)
    sp.add_argument("schedule", nargs="?", default=None, metavar="SCHEDULE", help="one schedule (default: all)")
    sp.add_argument("--at", type=timestamp_arg, default=None, metavar="TIME", help="RFC 3339 time (default: now)")
    sp.set_defaults(fn=lambda args: cmd_oncall(args, load))
