"""The ``runbookd`` command line: ``serve``, ``check``, ``migrate``, ``test``, ``simulate``, ``token``, ``audit``.

Exit codes: 0 success; 1 invalid config or rules (each error printed as
``file:line: rule 'x': what is wrong``, like ``promtool check rules``); 2 usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog
from aiohttp import web

from receiver import __version__
from receiver.cli_access import timestamp_arg
from receiver.durations import parse_duration
from receiver.errors import ConfigError, RunbookdError
from receiver.logs import configure_logging
from receiver.rules import CheckReport, check_rule_files
from receiver.settings import Settings, load_settings

DEFAULT_CONFIG = "runbookd.yml"


def _settings(path: str | None) -> Settings | None:
    """The settings at ``path``; None, with the error printed, when the config is invalid."""
    try:
        return load_settings(path)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def _load(args: argparse.Namespace) -> tuple[Settings, CheckReport] | None:
    """The settings of ``args.config`` and the check of their rule files, whose warnings are printed;
    None, with the error printed, when the config is invalid."""
    s = _settings(args.config)
    if s is None:
        return None
    from receiver.rules.calendar import from_config

    report = check_rule_files(s.rule_files, s.base_dir, default_severity=s.default_severity,
                              routing_keys=list(s.pagerduty.routing_keys), calendar=from_config(s.calendar))
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return s, report


def _http_target_warnings(s: Settings, ruleset: object) -> list[str]:
    """The ``http`` steps whose url, rendered with this config's ``vars``, has a host and port outside
    ``actions.http.allowed_hosts`` (such a step is refused when it runs)."""
    import httpx

    from receiver.config.http_actions import DEFAULT_PORTS, HostAllowList
    from receiver.errors import ActionError
    from receiver.playbooks.render import render_value

    allowed = HostAllowList.of(s.http_allowed_hosts())
    ctx = {"vars": dict(s.vars), "alert": {"labels": {}, "annotations": {}}, "incident": {}, "secrets": {}}
    out = []
    for name, playbook in getattr(ruleset, "playbooks", {}).items():
        for step in [*playbook.steps, *playbook.on_resolved.steps]:
            if step.action != "http":
                continue
            try:
                url = httpx.URL(str(render_value(step.url, ctx)).strip())
            except (ActionError, httpx.InvalidURL):
                continue
            if url.host and not allowed.allows(url):
                port = url.port or DEFAULT_PORTS.get(url.scheme)
                out.append(f"playbook '{name}': step '{step.name}': {url.host}:{port} is not in actions.http."
                           f"allowed_hosts of this config ({allowed}); the step will be refused when it runs")
    return out


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config and every rule file; print errors and warnings; exit 1 on any error."""
    loaded = _load(args)
    if loaded is None:
        return 1
    s, report = loaded
    from receiver.app import templates_dir
    from receiver.escalation.templates import Templates

    errors: list[object] = [*report.errors, *Templates(templates_dir(s)).check()]
    if report.ruleset is not None:
        for name, playbook in report.ruleset.playbooks.items():
            for step in [*playbook.steps, *playbook.on_resolved.steps]:
                argv = getattr(step, "argv", None)
                if step.action == "command" and argv and argv[0] not in s.command.allowed:
                    print(f"warning: playbook '{name}': step '{step.name}': {argv[0]} is not in command.allowed "
                          "of this config; the step will be refused when it runs", file=sys.stderr)
        for warning in _http_target_warnings(s, report.ruleset):
            print(f"warning: {warning}", file=sys.stderr)
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    if errors:
        print(f"FAILED: {len(errors)} error(s)", file=sys.stderr)
        return 1
    rs = report.ruleset
    assert rs is not None
    print(f"SUCCESS: {args.config or '(defaults)'} is valid; {len(rs.files)} rule file(s), {len(rs.rules)} rule(s), "
          f"{len(rs.playbooks)} playbook(s), {len(rs.receivers)} receiver(s), version {rs.version}")
    return 0


async def _serve(s: Settings) -> None:
    # The SQLite writer thread and the event loop share the GIL; a 1 ms switch interval (Python's
    # default is 5 ms) keeps the webhook's answers from waiting behind a long unit of work.
    sys.setswitchinterval(0.001)
    from receiver.app import build_app, build_components, record_reload, reload_rules

    log = structlog.get_logger("runbookd")
    comps = build_components(s)
    app = build_app(comps)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = s.host_port
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    pending: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        answer = reload_rules(comps)
        if answer["status"] != "success":
            log.error("rule reload failed; keeping the old rules", error=answer["error"])
        task = loop.create_task(record_reload(comps, "SIGHUP", "", answer))
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening", url=f"http://{host}:{port}")
    # Everything built so far (modules, SDK clients, the rule set) lives as long as the process: out of
    # the collector's sight, a full collection no longer walks it (it stalled webhooks for ~100 ms).
    gc.freeze()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the service until SIGINT/SIGTERM; SIGHUP reloads the rules."""
    s = _settings(args.config)
    if s is None:
        return 1
    if args.listen:
        s = s.model_copy(update={"listen": args.listen})
    configure_logging(s.log_level, s.log_format, s.secret_values())
    try:
        asyncio.run(_serve(s))
    except RunbookdError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or migrate the database schema and exit."""
    from receiver.store import open_store

    s = _settings(args.config)
    if s is None:
        return 1

    async def run() -> None:
        store = open_store(s.storage, base_dir=s.base_dir)
        await store.open()
        await store.close()

    try:
        asyncio.run(run())
    except RunbookdError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("schema is up to date")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Run rule unit-test files (``promtool test rules`` style); exit 1 when any case fails."""
    from receiver.simulate.unittests import run_test_file

    try:
        run = re.compile(args.run) if args.run else None
    except re.error as e:
        print(f"error: --run: bad regex: {e}", file=sys.stderr)
        return 2
    ok = True
    for path in args.files:
        result = run_test_file(path, run=run)
        for line in result.lines():
            print(line)
        ok = ok and result.ok
    return 0 if ok else 1


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_simulate(args: argparse.Namespace) -> int:
    """Print what runbookd would do with one Alertmanager webhook payload; no side effects."""
    from receiver.errors import PayloadError
    from receiver.ingest.payload import parse_payload
    from receiver.simulate import Deployment, alerts_from_payload, default_until, plan, render_text

    loaded = _load(args)
    if loaded is None:
        return 1
    s, report = loaded
    if report.ruleset is None:
        for err in report.errors:
            print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        body = sys.stdin.buffer.read() if args.payload == "-" else Path(args.payload).read_bytes()
        payload = parse_payload(body)
    except OSError as e:
        print(f"error: {args.payload}: cannot read: {e.strerror}", file=sys.stderr)
        return 1
    except PayloadError as e:
        print(f"error: {args.payload}: {e}", file=sys.stderr)
        return 1
    alerts, start = alerts_from_payload(payload, args.at)
    ack_at = start + args.ack_at if args.ack_at is not None else None
    until = start + args.until if args.until is not None else max(start, default_until(report.ruleset, alerts, ack_at))
    result = plan(report.ruleset, alerts, until=until, ack_at=ack_at, start=start,
                  deployment=Deployment.from_settings(s))
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.format == "json" else render_text(result), end="")
    if args.format == "json":
        print()
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``runbookd``."""
    p = argparse.ArgumentParser(prog="runbookd", description="Alertmanager webhook receiver and auto-responder.")
    p.add_argument("--version", action="version", version=f"runbookd {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", default=None,
                        help=f"path of runbookd.yml (default: ./{DEFAULT_CONFIG} if it exists)")

    sp = sub.add_parser("serve", help="run the service")
    with_config(sp)
    sp.add_argument("--listen", default=None, help="host:port (overrides listen)")
    sp.set_defaults(fn=cmd_serve)
    sp = sub.add_parser("check", help="validate config, rules, playbooks and escalation policies")
    with_config(sp)
    sp.set_defaults(fn=cmd_check)
    sp = sub.add_parser("migrate", help="create or migrate the database schema")
    with_config(sp)
    sp.set_defaults(fn=cmd_migrate)
    sp = sub.add_parser("test", help="run rule unit-test files (like promtool test rules)")
    sp.add_argument("files", nargs="+", metavar="FILE", help="rule unit-test file (YAML)")
    sp.add_argument("--run", default=None, metavar="REGEX", help="run only the cases whose name matches")
    sp.set_defaults(fn=cmd_test, config=None)
    sp = sub.add_parser("simulate", help="print what would happen with one Alertmanager payload")
    with_config(sp)
    sp.add_argument("payload", metavar="PAYLOAD.json", help="webhook payload version 4 ('-' reads stdin)")
    sp.add_argument("--at", type=timestamp_arg, default=None, metavar="TIME",
                    help="RFC 3339 time the payload arrives (default: its latest startsAt/endsAt)")
    sp.add_argument("--ack-at", type=_duration, default=None, metavar="OFFSET",
                    help="acknowledge the incidents this long after the start (e.g. 2m)")
    sp.add_argument("--until", type=_duration, default=None, metavar="DURATION",
                    help="how far to plan (default: every escalation step and the first updates)")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    sp.set_defaults(fn=cmd_simulate)
    from receiver.cli_access import add_parsers

    add_parsers(sub, with_config, _with_settings)
    from receiver import cli_oncall

    cli_oncall.add_parser(sub, with_config, _load)
    return p


def _with_settings(fn: Callable[[argparse.Namespace, Settings], int]) -> Callable[[argparse.Namespace], int]:
    """``fn(args, settings)`` as a sub-command: exit 1 when the config is invalid."""
    def run(args: argparse.Namespace) -> int:
        s = _settings(args.config)
        return 1 if s is None else fn(args, s)
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``runbookd`` console script; returns the exit code."""
    args = parser().parse_args(argv)
    if args.config is None:
        from pathlib import Path

        if Path(DEFAULT_CONFIG).exists():
            args.config = DEFAULT_CONFIG
    with contextlib.suppress(BrokenPipeError):
        return int(args.fn(args))
    return 0
