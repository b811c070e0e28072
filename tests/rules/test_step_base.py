"""The step keys every step has: ``if``, ``until``, ``on_skip`` (``receiver.rules.step_base``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from receiver.rules.model import Playbook


def test_a_condition_that_does_not_compile_is_a_load_error() -> None:
    """``if: steps.x ==`` is refused when the rule file loads, naming the condition."""
    with pytest.raises(ValidationError, match="does not compile"):
        Playbook.model_validate({"steps": [{"name": "a", "action": "log", "message": "m", "if": "steps.x =="}]})


def test_a_condition_in_template_braces_is_refused() -> None:
    """A condition is an expression: ``{{ … }}`` around it is an error, not a string that is always true."""
    with pytest.raises(ValidationError, match="expression"):
        Playbook.model_validate({"steps": [{"name": "a", "action": "log", "message": "m", "if": "{{ true }}"}]})


def test_until_takes_durations_and_a_read() -> None:
    """``until`` reads Prometheus durations; its read is a GET by default."""
    pb = Playbook.model_validate({"steps": [{"name": "a", "action": "http", "url": "http://x/", "until": {
        "condition": "result.data.json.ok", "interval": "30s", "timeout": "5m", "read": {"url": "http://x/s"}}}]})
    u = pb.steps[0].until
    assert u is not None and (u.interval, u.timeout, u.read and u.read.method) == (30.0, 300.0, "GET")


def test_a_wait_step_needs_a_positive_duration() -> None:
    """``action: wait`` without a duration (or 0s) is refused."""
    for bad in ({"name": "w", "action": "wait"}, {"name": "w", "action": "wait", "duration": "0s"}):
        with pytest.raises(ValidationError):
            Playbook.model_validate({"steps": [bad]})
