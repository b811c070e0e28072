"""``runbookd check`` refuses an http step whose url template lets a label choose the host or port."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from receiver.rules import check_rule_files

WriteRules = Callable[[str, str], Path]  # the write_rules fixture of conftest.py
PROBLEM = ("url: its scheme, host and port must be fixed text or {{ vars.<name> }}: a template before the first "
           "'/' of the path could send the request anywhere (put labels in the path with '| path_segment', in "
           "the query or in the body)")


def _rules(url: str) -> str:
    return f"""
        playbooks:
          halt:
            steps:
              - name: stop
                action: http
                url: "{url}"
    """


@pytest.mark.parametrize("url", [
    "http://{{ alert.labels.host }}/admin/stop",
    "{{ vars.trading_api_url }}:{{ alert.labels.port }}/admin/stop",
    "{{ vars.trading_api_url }}{{ alert.labels.path }}",
    "{{ alert.labels.url }}",
    "http{{ alert.annotations.rest }}",
    "https://{{ incident.labels.venue }}.trading.example/halt",
    "{% if alert.labels.x %}http://127.0.0.1:6379{% endif %}/x",
])
def test_a_template_in_the_scheme_host_or_port_is_an_error(write_rules: WriteRules, tmp_path: Path, url: str) -> None:
    """A label, incident field or block before the path's first '/' could point the request at any host
    and port (127.0.0.1:6379): an error at the url's line, naming the step."""
    write_rules("r.yml", _rules(url))
    report = check_rule_files(["r.yml"], str(tmp_path))
    assert [str(e) for e in report.errors] == [f"r.yml:6: rule 'halt': steps[0].url: step 'stop': {PROBLEM}"]


@pytest.mark.parametrize("url", [
    "{{ vars.trading_api_url }}/venues/{{ alert.labels.venue | path_segment }}/halt",
    "{{ vars.trading_api_url }}?venue={{ alert.labels.venue | urlencode }}",
    "http://{{ vars.host }}:8080/halt/{{ incident.id }}",
    "https://trading.example/halt/{{ alert.labels.venue | path_segment }}",
    "{{ vars.trading_api_url }}",
    "http://127.0.0.1:9000/admin/stop",
])
def test_fixed_text_and_vars_before_the_path_are_fine(write_rules: WriteRules, tmp_path: Path, url: str) -> None:
    """Scheme, host and port from the rule file's text or from ``vars``; labels only after the first '/'."""
    write_rules("r.yml", _rules(url))
    report = check_rule_files(["r.yml"], str(tmp_path))
    assert report.errors == [] and report.ruleset is not None
