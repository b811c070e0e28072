"""``runbookd check`` resolves what templates refer to: a variable other than those the renderer provides
is an error at its file and line, not an empty string in a halt request at 3 a.m."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from receiver.model import Incident
from receiver.playbooks.render import template_context
from receiver.rules import check_rule_files
from receiver.rules.checks import TEMPLATE_NAMES

WriteRules = Callable[[str, str], Path]  # the write_rules fixture of conftest.py


def test_template_names_are_those_the_renderer_provides() -> None:
    """The names check accepts are exactly the top-level variables of the rendering context."""
    inc = Incident("i", "k", "r", "P0", "firing", {}, "t", None, "v", 0.0, 0.0)
    assert set(template_context(inc, None, vars={}, secrets={})) == TEMPLATE_NAMES


def test_an_unknown_template_variable_is_an_error_at_its_line(write_rules: WriteRules, tmp_path: Path) -> None:
    """A typo such as ``alrt`` or ``var`` is reported with file, line, playbook and step."""
    write_rules("r.yml", """
        playbooks:
          halt:
            steps:
              - name: stop
                action: http
                url: "{{ var.trading_api_url }}/stop"
                json:
                  reason: "{{ alrt.labels.alertname }} {{ incident.id }}"
    """)
    report = check_rule_files(["r.yml"], str(tmp_path))
    assert [str(e) for e in report.errors] == [
        "r.yml:6: rule 'halt': steps[0].url: template of step 'stop' uses unknown variable(s) var (templates "
        "see alert, incident, secrets, steps, vars)",
        "r.yml:8: rule 'halt': steps[0].json.reason: template of step 'stop' uses unknown variable(s) alrt "
        "(templates see alert, incident, secrets, steps, vars)",
    ]


def test_names_a_template_defines_itself_are_fine(write_rules: WriteRules, tmp_path: Path) -> None:
    """Loop variables, ``set`` names and Jinja's globals (``range``) are not references to resolve."""
    write_rules("r.yml", """
        playbooks:
          note:
            steps:
              - name: note
                action: log
                message: >-
                  {% set n = alert.labels | length %}{% for k, v in alert.labels.items() %}{{ k }}={{ v }}
                  {% endfor %}{{ n }} {{ range(3) | list }} {{ vars.x }} {{ secrets.y | length }}
    """)
    assert check_rule_files(["r.yml"], str(tmp_path)).errors == []


def test_on_resolved_steps_are_checked_like_the_playbooks_steps(write_rules: WriteRules, tmp_path: Path) -> None:
    """Templates and step names of ``on_resolved.steps`` are checked too, at their own lines."""
    write_rules("r.yml", """
        playbooks:
          halt:
            steps:
              - {name: note, action: log, message: ok}
            on_resolved:
              steps:
                - name: after
                  action: log
                  message: "{{ incident.title }"
                - name: after
                  action: log
                  message: "{{ incidnt.title }}"
    """)
    assert [str(e) for e in check_rule_files(["r.yml"], str(tmp_path)).errors] == [
        "r.yml:9: rule 'halt': on_resolved.steps[0].message: template syntax error in step 'after': unexpected '}'",
        "r.yml:10: rule 'halt': on_resolved.steps[1].name: duplicate step name 'after' (first defined at r.yml:7)",
        "r.yml:12: rule 'halt': on_resolved.steps[1].message: template of step 'after' uses unknown variable(s) "
        "incidnt (templates see alert, incident, secrets, steps, vars)",
    ]
