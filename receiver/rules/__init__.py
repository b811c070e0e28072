"""Rules: Alertmanager matchers, rule files and the decision of which rule an alert falls under.

Pure: no store, no network; the only I/O is reading rule files. ``load_rule_files`` /
``check_rule_files`` turn ``rule_files`` globs into a ``RuleSet``; ``RuleSet.match(labels)`` says
which rule(s) apply (first match wins unless ``continue``; otherwise the built-in ``CATCH_ALL``).
"""

from receiver.rules.loader import CheckReport, RuleSetError, check_rule_files, load_rule_files
from receiver.rules.matchers import Matcher, parse_matcher, parse_matchers
from receiver.rules.ruleset import CATCH_ALL, CompiledRule, RuleSet, SourcePos

__all__ = [
    "CATCH_ALL",
    "CheckReport",
    "CompiledRule",
    "Matcher",
    "RuleSet",
    "RuleSetError",
    "SourcePos",
    "check_rule_files",
    "load_rule_files",
    "parse_matcher",
    "parse_matchers",
]
