"""Run rule unit-test files: each case is simulated with ``plan`` and compared with its expectations.

The file format is ``receiver.rules.unittest_model``; the comparison is ``receiver.rules.testing``.
No network and no side effects: rule files and the test file are the only things read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from receiver.rules import check_rule_files
from receiver.rules.calendar import from_config
from receiver.rules.testing import compare, horizon, load_test_file
from receiver.rules.unittest_model import RuleTestCase
from receiver.simulate.given import Given
from receiver.simulate.plan import Deployment, SimAlert, plan


@dataclass
class CaseResult:
    """One case: ``name``, the ``line`` it starts on and its ``failures`` (empty when it passed)."""

    name: str
    line: int
    failures: list[str] = field(default_factory=list)


@dataclass
class FileResult:
    """One test file: ``errors`` that stopped it from running (its own or its rule files'), ``cases``."""

    path: str
    errors: list[str] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the file ran and every case passed."""
        return not self.errors and all(not c.failures for c in self.cases)

    def lines(self) -> Iterator[str]:
        """The report of this file, as ``promtool test rules`` prints it: ``SUCCESS`` or each failure."""
        yield f"Unit Testing: {self.path}"
        for e in self.errors:
            yield f"  FAILED: {e}"
        for c in self.cases:
            for f in c.failures:
                text = f"  FAILED: test '{c.name}' ({self.path}:{c.line}): {f}"
                yield text.replace("\n", "\n    ")
        failed = sum(1 for c in self.cases if c.failures)
        if self.ok:
            yield f"  SUCCESS: {len(self.cases)} test(s) passed"
        elif not self.errors:
            yield f"  {failed} of {len(self.cases)} test(s) failed"


def run_test_file(path: str, *, run: re.Pattern[str] | None = None) -> FileResult:
    """Run every case of the test file at ``path`` (only those whose name ``run`` matches, if given)."""
    result = FileResult(path)
    loaded, errors = load_test_file(path)
    if loaded is None:
        result.errors = [str(e) for e in errors]
        return result
    tf = loaded.content
    # Patterns are relative to the test file; joined to its folder so errors name files as the user sees them.
    here = os.path.dirname(path)
    patterns = [p if os.path.isabs(p) else os.path.normpath(os.path.join(here, p)) for p in tf.rule_files]
    report = check_rule_files(patterns, ".", default_severity=tf.default_severity, calendar=from_config(tf.calendar))
    if report.ruleset is None:
        result.errors = [str(e) for e in report.errors]
        return result
    deployment = Deployment(vars=dict(tf.vars), secrets=None, reopen_window=tf.reopen_window,
                            external_url=tf.external_url)
    for i, case in enumerate(tf.tests):
        if run is not None and not run.search(case.name):
            continue
        start = (case.evaluation_time or tf.evaluation_time).timestamp()
        p = plan(report.ruleset, sim_alerts(case, start), until=start + horizon(case), start=start,
                 ack_at=start + case.ack_at if case.ack_at is not None else None, deployment=deployment,
                 given=Given(dict(case.approvals), {k: v.model_dump() for k, v in case.results.items()}))
        result.cases.append(CaseResult(case.name, loaded.line_of(i), compare(case, p)))
    return result


def sim_alerts(case: RuleTestCase, start: float) -> list[SimAlert]:
    """The case's input alerts as simulation alerts, their offsets counted from ``start`` (epoch s)."""
    out = []
    for a in case.alerts:
        firing = a.status == "firing"
        resolve = a.resolved_at if firing else a.at
        out.append(SimAlert(
            labels=dict(a.labels), annotations=dict(a.annotations),
            starts_at=start + (a.starts_at if a.starts_at is not None else a.at),
            fire_at=start + a.at if firing else None,
            resolve_at=start + resolve if resolve is not None else None,
            fingerprint=a.fingerprint or "",
        ))
    return out


__all__ = ["CaseResult", "FileResult", "run_test_file", "sim_alerts"]
