"""Fuzz a real ``runbookd serve``: >= 10,000 generated requests per endpoint (issue 11).

``.venv/bin/python bench/fuzz.py [--cases 10000] [--storage sqlite|postgresql] [--seed 1]``

Starts the fakes (``python -m tests.fakes.run``) and ``runbookd serve`` with the shipped config
(tests/e2e/harness.py) with a webhook token, the admin token and the Slack and PagerDuty signing
secrets set, then sends the cases of ``tests/fuzz/strategies.py`` (the suite's strategies) to each
endpoint over raw sockets. It prints the count of answers by status code per endpoint and every
rule broken (``tests.fuzz.checks.problems``: no status >= 500, every 4xx a JSON error with its
field), greps runbookd's log for tracebacks, and then checks that a valid P0 alert still opens its
incident and pages (Slack #critical and a PagerDuty trigger). Exit status 0 when all of that holds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from tests.e2e.harness import ADMIN_TOKEN, Fakes, Runbookd, wait_until  # noqa: E402
from tests.fuzz.checks import problems, send  # noqa: E402
from tests.fuzz.strategies import Case, Secrets, endpoint_cases  # noqa: E402

WEBHOOK_TOKEN = "bench-fuzz-webhook-token"
SLACK_SECRET = "bench-fuzz-slack-signing-secret"
PD_SECRET = "bench-fuzz-pagerduty-secret"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10_000, help="cases per endpoint (default 10000)")
    p.add_argument("--storage", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--seed", type=int, default=1, help="hypothesis seed (the same seed sends the same cases)")
    p.add_argument("--endpoints", nargs="*", help="only these endpoint families")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, database)")
    p.add_argument("--show", type=int, action="append", default=[], metavar="CODE",
                   help="print the first 3 cases answered CODE per endpoint (repeatable)")
    return p.parse_args(argv)


def fuzz_endpoint(rb: Runbookd, name: str, strategy: Any, cases: int, seed_value: int,
                  codes: Counter[int], broken: list[tuple[Case, list[str]]], show: tuple[int, ...] = ()) -> None:
    """Send ``cases`` cases of ``strategy`` to ``rb``; count status codes, collect broken rules."""

    @seed(seed_value)
    @settings(max_examples=cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Case) -> None:
        try:
            answer = send("127.0.0.1", rb.port, case)
        except OSError as e:
            codes[0] += 1
            broken.append((case, [f"connection failed: {e!r}"]))
            return
        codes[answer.status] += 1
        if answer.status in show and codes[answer.status] <= 3:
            print(f"    {answer.status}: {case!r} -> {answer.body[:160]!r}")
        found = problems(case, answer)
        if found:
            broken.append((case, found))

    run()


def p0_still_pages(rb: Runbookd, fakes: Fakes) -> list[str]:
    """Post a valid P0 (TradingSystemDown) and wait for its incident, Slack page and PagerDuty trigger."""
    job = f"after-fuzz-{uuid.uuid4().hex[:8]}"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = {"version": "4", "status": "firing", "receiver": "runbookd", "groupKey": "{}", "truncatedAlerts": 0,
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": [{"status": "firing", "labels": {"alertname": "TradingSystemDown", "job": job,
                                                       "severity": "critical"},
                        "annotations": {"summary": "trading down after the fuzz"}, "startsAt": now,
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "f0f0f0f0f0f0f0f0"}]}
    r = httpx.post(rb.webhook_url, json=body, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}, timeout=30)
    if r.status_code != 200:
        return [f"valid P0 answered {r.status_code}: {r.text[:200]}"]
    out = []
    try:
        incident = wait_until(lambda: next((i for i in rb.incidents(alertname="TradingSystemDown")
                                            if i["labels"].get("job") == job), None), timeout=60)
    except Exception as e:  # noqa: BLE001 — reported
        return [f"no incident opened for the P0: {e}"]
    if incident["severity"] != "P0":
        out.append(f"incident severity {incident['severity']}, expected P0")
    key = f"runbookd-{incident['id']}"
    try:
        wait_until(lambda: any(e.get("dedup_key") == key for e in fakes.pagerduty_events("trigger")), timeout=60)
    except Exception:  # noqa: BLE001
        out.append("no PagerDuty trigger for the P0")
    try:
        wait_until(lambda: any(job in str(p) for p in fakes.slack_pages("#critical")), timeout=60)
    except Exception:  # noqa: BLE001
        out.append("no Slack #critical page for the P0")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the fuzz and print the report; 0 when every rule held."""
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="runbookd-fuzz-"))
    secrets = Secrets(WEBHOOK_TOKEN, ADMIN_TOKEN, SLACK_SECRET, PD_SECRET)
    strategies = endpoint_cases(secrets)
    names = args.endpoints or list(strategies)
    extra = {"SLACK_SIGNING_SECRET": SLACK_SECRET, "PAGERDUTY_WEBHOOK_SECRET": PD_SECRET}
    schema = None
    if args.storage == "postgresql":
        schema = f"fuzz_{uuid.uuid4().hex[:12]}"
        extra["RUNBOOKD_STORAGE"] = f"{PG_URL}?schema={schema}"
    fakes = Fakes(work / "fakes")
    fakes.start()
    rb = Runbookd(work / "runbookd", fakes, webhook_token=WEBHOOK_TOKEN, extra_env=extra)
    failures: list[str] = []
    try:
        rb.start()
        print(f"runbookd serve on 127.0.0.1:{rb.port}, storage {args.storage}, {args.cases} cases per endpoint")
        print(f"{'endpoint':<20} {'cases':>7} {'seconds':>8}  status codes")
        for name in names:
            codes: Counter[int] = Counter()
            broken: list[tuple[Case, list[str]]] = []
            t0 = time.monotonic()
            fuzz_endpoint(rb, name, strategies[name], args.cases, args.seed, codes, broken, tuple(args.show))
            took = time.monotonic() - t0
            summary = "  ".join(f"{code}:{n}" for code, n in sorted(codes.items()))
            print(f"{name:<20} {sum(codes.values()):>7} {took:>8.1f}  {summary}", flush=True)
            by_rule: dict[str, list[Case]] = defaultdict(list)
            for case, found in broken:
                for f in found:
                    by_rule[f.split(":")[0]].append(case)
            for rule, cases in sorted(by_rule.items()):
                failures.append(f"{name}: {rule} ({len(cases)} cases), e.g. {cases[0]!r}")
        rb.check_alive()
        failures += [f"after the fuzz: {p}" for p in p0_still_pages(rb, fakes)]
    finally:
        rb.close()
        fakes.close()
        if schema is not None:
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    log = rb.logs()
    tracebacks = log.count("Traceback (most recent call last)")
    unhandled = log.count("unhandled error; answering 500") + log.count("webhook failed; answering 500")
    print(f"runbookd log: {tracebacks} tracebacks, {unhandled} unhandled errors ({work / 'runbookd'})")
    if tracebacks or unhandled:
        failures.append(f"log holds {tracebacks} tracebacks and {unhandled} unhandled errors")
    if failures:
        print("\nFAILED:")
        for f in failures:
            print(f"  - {f[:600]}")
    else:
        print("OK: no answer >= 500, every 4xx a JSON error naming its field, no traceback; "
              "a valid P0 still opened its incident and paged Slack and PagerDuty")
    if not args.keep and not failures:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
