"""Load rule files (``rule_files`` globs) into a ``RuleSet``, or report every problem with its line.

Used by ``runbookd serve`` / reload (``load_rule_files``) and ``runbookd check`` (``check_rule_files``).
Each error reads ``file:line: rule 'x': what is wrong``, like ``amtool check-config`` and ``promtool
check rules``. The only I/O is reading the rule files.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from receiver.errors import RuleFileError, RunbookdError
from receiver.rules.calendar import ExchangeCalendar
from receiver.rules.checks import ParsedFile, merge
from receiver.rules.model import SEVERITIES, RuleFile
from receiver.rules.ruleset import RuleSet
from receiver.rules.yamlpos import (
    YamlSyntaxError,
    describe,
    duplicate_keys,
    format_path,
    kind,
    locate,
    parse_yaml,
)

#: Cross-file errors about a name defined elsewhere: not reported while some file has errors, since that
#: file may define the name.
_REFERENCES = ("unknown playbook '", "unknown receiver '", "unknown time interval '")
PATTERNS_FILE = "rule_files"
"""The ``file`` of errors that concern a pattern rather than a file (``rule_files: no file matches …``)."""


class RuleSetError(RunbookdError):
    """Raised by ``load_rule_files`` when the rule files have errors; ``errors`` lists them all and
    ``str()`` is one error per line."""

    def __init__(self, errors: list[RuleFileError]) -> None:
        self.errors = list(errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        """The errors, one per line (``file:line: rule 'x': message``)."""
        return "\n".join(str(e) for e in self.errors)


@dataclass
class CheckReport:
    """What ``check_rule_files`` found: ``ruleset`` is ``None`` exactly when ``errors`` is not empty;
    ``warnings`` use the same ``file:line: rule 'x': message`` form and never block loading."""

    ruleset: RuleSet | None
    errors: list[RuleFileError] = field(default_factory=list)
    warnings: list[RuleFileError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether there are no errors (warnings allowed)."""
        return not self.errors


def expand_patterns(
    patterns: Sequence[str], base_dir: str
) -> tuple[list[tuple[str, str]], list[RuleFileError]]:
    """Expand globs into ``[(name as shown, path to read)]`` in order, and errors for empty patterns.

    Relative patterns are resolved against ``base_dir`` and shown relative to it; matches are sorted
    per pattern, directories skipped, and a file matched twice is kept at its first place. ``**``
    matches across directories.
    """
    found: list[tuple[str, str]] = []
    errors: list[RuleFileError] = []
    seen: set[str] = set()
    for pattern in patterns:
        if os.path.isabs(pattern):
            pairs = [(p, p) for p in glob.glob(pattern, recursive=True)]
        else:
            matched = glob.glob(pattern, root_dir=base_dir, recursive=True)
            pairs = [(p, os.path.join(base_dir, p)) for p in matched]
        pairs = sorted((shown, path) for shown, path in pairs if os.path.isfile(path))
        if not pairs:
            errors.append(RuleFileError(PATTERNS_FILE, 0, None, f"no file matches pattern '{pattern}'"))
        for shown, path in pairs:
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                found.append((shown, path))
    return found, errors


def check_rule_files(
    patterns: Sequence[str],
    base_dir: str,
    *,
    default_severity: str = "P3",
    routing_keys: Collection[str] | None = None,
    calendar: ExchangeCalendar | None = None,
) -> CheckReport:
    """Read, validate and merge the rule files named by ``patterns``; never raises for bad content.

    Per file: UTF-8, YAML syntax (safe loader, one document; empty is fine), no key twice in one
    mapping, the schema of ``receiver.rules.model.RuleFile``. Then, once every file is valid, the
    cross-file checks (``receiver.rules.checks``): unique rule/playbook/receiver names and one policy
    per severity; matchers parse and regexes compile; playbooks referenced exist; policies notify
    known receivers; a receiver has exactly one channel; a PagerDuty ``routing_key`` is one of
    ``routing_keys`` (when given); ``group_by`` label names are valid; step names are unique per
    playbook; step parameters compile as sandboxed Jinja2 templates. Warnings: a rule shadowed by an
    earlier one, a severity in use without an escalation policy, an explicitly empty time range list.
    ``ValueError`` for a ``default_severity`` other than P0–P3. ``calendar`` (runbookd.yml's exchange
    calendar) adds the built-in ``market_*`` time intervals (``receiver.rules.calendar``).

    Every error of every file is reported in one run: the cross-file checks run over the valid files
    even when others are invalid, leaving out only references to names (an unknown playbook, receiver
    or time interval) that an invalid file may define; warnings wait until every file is valid.
    """
    if default_severity not in SEVERITIES:
        raise ValueError(f"default_severity must be one of {', '.join(SEVERITIES)}, got {default_severity!r}")
    paths, errors = expand_patterns(patterns, base_dir)
    digest = hashlib.sha256()
    parsed: list[ParsedFile] = []
    for shown, path in paths:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as e:
            errors.append(RuleFileError(shown, 0, None, f"cannot read: {e.strerror}"))
            continue
        digest.update(b"%d:%s\0%d:" % (len(shown.encode()), shown.encode(), len(raw)))
        digest.update(raw)
        file_errors, content = _parse_file(shown, raw)
        errors += file_errors
        if content is not None:  # valid schema (maybe duplicate keys): its cross-file checks run too
            parsed.append(content)
    merged = merge(parsed, default_severity=default_severity, routing_keys=routing_keys,
                   builtin_intervals=calendar.intervals() if calendar is not None else None)
    if errors:
        # Some file is invalid: still report the cross-file errors of the valid ones, except references
        # that the invalid files may have defined (they would be errors of our making).
        cross = [e for e in merged.errors if not any(r in e.message for r in _REFERENCES)]
        return CheckReport(None, _sorted(errors + cross, paths), [])
    warnings = _sorted(merged.warnings, paths)
    if merged.errors:
        return CheckReport(None, _sorted(merged.errors, paths), warnings)
    ruleset = RuleSet(
        rules=tuple(merged.rules),
        playbooks=merged.playbooks,
        receivers=merged.receivers,
        escalation_policies=merged.policies,
        version=digest.hexdigest()[:12],
        files=tuple(shown for shown, _ in paths),
        default_severity=default_severity,
        time_intervals=merged.time_intervals,
        calendar=calendar,
        schedules=merged.schedules,
    )
    return CheckReport(ruleset, [], warnings)


def load_rule_files(
    patterns: Sequence[str],
    base_dir: str,
    *,
    default_severity: str = "P3",
    routing_keys: Collection[str] | None = None,
    calendar: ExchangeCalendar | None = None,
) -> RuleSet:
    """Load the rule files as ``check_rule_files`` does and return the ``RuleSet`` (warnings dropped).

    Raises ``RuleSetError`` carrying every error when any file is invalid.
    """
    report = check_rule_files(
        patterns, base_dir, default_severity=default_severity, routing_keys=routing_keys, calendar=calendar
    )
    if report.ruleset is None:
        raise RuleSetError(report.errors)
    return report.ruleset


def _sorted(errors: list[RuleFileError], paths: list[tuple[str, str]]) -> list[RuleFileError]:
    order = {shown: i for i, (shown, _) in enumerate(paths)}
    return sorted(errors, key=lambda e: (order.get(e.file, -1), e.line))


def _parse_file(name: str, raw: bytes) -> tuple[list[RuleFileError], ParsedFile | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return [RuleFileError(name, 0, None, f"not valid UTF-8 (byte {e.start})")], None
    try:
        data, root = parse_yaml(text)
    except YamlSyntaxError as e:
        return [RuleFileError(name, e.line, None, e.message)], None
    errors = [_duplicate(name, data, *dup) for dup in duplicate_keys(root)]
    try:
        content = RuleFile.model_validate({} if data is None else data)
    except ValidationError as e:
        errors += [_translate(name, root, data, err) for err in e.errors()]
        return errors, None
    return errors, ParsedFile(name, root, content)


def _duplicate(
    name: str, data: Any, path: tuple[str | int, ...], key: str, line: int, first: int
) -> RuleFileError:
    where = f"first defined at {name}:{first}"
    if path == ("playbooks",):
        return RuleFileError(name, line, key, f"duplicate playbook name ({where})")
    if path == ("escalation_policies",):
        return RuleFileError(name, line, key, f"duplicate escalation policy for {key} ({where})")
    owner, rel = _owner(path, data)
    prefix = f"{format_path(rel)}: " if rel else ""
    return RuleFileError(name, line, owner, f"{prefix}duplicate key '{key}' (first at line {first})")


def _owner(loc: tuple[Any, ...], data: Any) -> tuple[str | None, tuple[Any, ...]]:
    """Who an error at ``loc`` belongs to (rule, playbook, receiver or policy name) and the rest of loc."""
    if len(loc) >= 2 and loc[0] in ("playbooks", "escalation_policies"):
        return str(loc[1]), loc[2:]
    if len(loc) >= 2 and loc[0] in ("rules", "receivers", "schedules") and isinstance(loc[1], int):
        try:
            item = data[loc[0]][loc[1]]
        except (KeyError, IndexError, TypeError):
            item = None
        owner = item.get("name") if isinstance(item, dict) else None
        if isinstance(owner, str) and owner:
            return owner, loc[2:]
    return None, loc


def _translate(name: str, root: Any, data: Any, err: Any) -> RuleFileError:
    loc = tuple(err.get("loc", ()))
    typ = err.get("type", "")
    if not loc:
        return RuleFileError(name, 1, None, f"expected a mapping at the top level, got {kind(data)}")
    line, found = locate(root, (*loc, "action") if typ == "union_tag_invalid" else loc)
    if "[key]" in loc:  # a bad mapping key: a playbook name or a severity
        what = "" if typ == "string_pattern_mismatch" else f"'{loc[-2]}': "
        return RuleFileError(name, line, None, f"{loc[0]}: {what}{describe(err)}")
    owner, rel = _owner(loc, data)
    skip = len(loc) - len(rel)
    # Shown path: the parts present in the file, so union tags drop out; an unknown or missing key
    # is named by the message itself.
    last = len(loc) - 1 if typ in ("extra_forbidden", "missing") else len(loc)
    parts: list[str | int] = [p for i, p in enumerate(rel) if skip + i in found and skip + i != last]
    if typ == "union_tag_invalid":
        parts.append("action")
    message = describe(err)
    return RuleFileError(name, line, owner, f"{format_path(parts)}: {message}" if parts else message)
