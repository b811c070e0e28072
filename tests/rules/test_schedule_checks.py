"""``runbookd check`` over ``schedules:`` (receiver.rules.schedule_checks): every mistake at file:line."""

from __future__ import annotations

import pickle
from pathlib import Path

from receiver.rules.loader import check_rule_files, load_rule_files
from receiver.rules.schedules import Schedule
from tests.rules.conftest import WriteRules

GOOD = """
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: "22:00", end_time: "24:00"}]}]
schedules:
  - name: primary
    layers:
      - name: weekly
        members: [alice, bob]
        shift: weekly
        handoff: "09:00"
        timezone: America/New_York
        start: 2026-01-05
      - name: nights
        members: [dave]
        shift: 12h
        time_interval: nights
"""


def messages(path: Path) -> list[str]:
    return [str(e) for e in check_rule_files([str(path)], str(path.parent)).errors]


def test_a_good_schedule_loads_into_the_rule_set_and_survives_pickling(write_rules: WriteRules) -> None:
    """The rule set carries schedules by name (custom shifts as seconds) and keeps them when pickled."""
    path = write_rules("s.yml", GOOD)
    rs = load_rule_files([str(path)], str(path.parent))
    s = rs.schedules["primary"]
    assert isinstance(s, Schedule) and [la.name for la in s.layers] == ["weekly", "nights"]
    assert s.layers[1].shift == 43200.0 and s.layers[0].shift == "weekly"
    assert pickle.loads(pickle.dumps(rs)).schedules["primary"] == s


def test_an_unknown_zone_is_an_error_at_its_line(write_rules: WriteRules) -> None:
    """A zone zoneinfo does not know is reported at the timezone line, naming the schedule (as the
    owner every rule-file error has)."""
    path = write_rules("s.yml", GOOD.replace("America/New_York", "America/Nowhere"))
    assert messages(path) == [f"{path}:11: rule 'primary': layers[0].timezone: unknown time zone "
                              "'America/Nowhere' (an IANA name, e.g. America/New_York)"]


def test_an_unknown_time_interval_is_an_error_at_its_line(write_rules: WriteRules) -> None:
    """A layer restricted to a time interval that no file defines is an error."""
    path = write_rules("s.yml", GOOD.replace("time_interval: nights", "time_interval: weekends"))
    assert messages(path) == [f"{path}:16: rule 'primary': layers[1].time_interval: unknown time "
                              "interval 'weekends'"]


def test_duplicate_schedule_and_layer_names_are_errors(write_rules: WriteRules) -> None:
    """Two schedules of one name, or two layers of one name in a schedule, are refused."""
    text = GOOD.replace("- name: nights\n        members", "- name: weekly\n        members")
    text += "  - name: primary\n    layers: [{name: x, members: [eve]}]\n"
    out = messages(write_rules("s.yml", text))
    assert any("layers[1].name: duplicate layer name 'weekly'" in m for m in out), out
    assert any("duplicate schedule name (first defined at" in m for m in out), out


def test_bad_members_and_shift_lengths_are_refused_by_the_model(write_rules: WriteRules) -> None:
    """No members, a member name with a space, a zero or nonsense shift and an unknown key are errors."""
    for bad, needle in [("members: [alice, bob]", "members: []"), ("members: [alice, bob]", "members: [al ice]"),
                        ("shift: weekly", "shift: 0s"), ("shift: weekly", "shift: fortnightly"),
                        ("start: 2026-01-05", "begin: 2026-01-05")]:
        out = messages(write_rules("s.yml", GOOD.replace(bad, needle)))
        assert len(out) == 1 and "s.yml:" in out[0] and "primary" in out[0], (needle, out)
