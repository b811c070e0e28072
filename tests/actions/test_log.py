"""LogAction writes a structlog event and reports the message."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from receiver.actions.log import LogAction
from receiver.errors import ActionError


async def test_the_message_is_logged_and_returned() -> None:
    with capture_logs() as logs:
        result = await LogAction().run({"message": "halted execution", "level": "warning"}, dry_run=False, timeout=1)
    assert result.outcome == "ok" and result.summary == "halted execution"
    assert logs == [{"event": "playbook_log", "message": "halted execution", "log_level": "warning"}]


async def test_the_level_defaults_to_info() -> None:
    with capture_logs() as logs:
        await LogAction().run({"message": "m"}, dry_run=False, timeout=1)
    assert logs[0]["log_level"] == "info"


async def test_dry_run_still_logs_and_marks_the_line() -> None:
    with capture_logs() as logs:
        result = await LogAction().run({"message": "m"}, dry_run=True, timeout=1)
    assert result.outcome == "ok"
    assert logs[0]["dry_run"] is True


async def test_a_label_value_is_logged_as_data_not_rendered() -> None:
    with capture_logs() as logs:
        await LogAction().run({"message": "{{ 7*7 }} $(id)"}, dry_run=False, timeout=1)
    assert logs[0]["message"] == "{{ 7*7 }} $(id)"


async def test_an_unknown_level_is_not_retryable() -> None:
    with pytest.raises(ActionError) as exc:
        await LogAction().run({"message": "m", "level": "loud"}, dry_run=False, timeout=1)
    assert exc.value.retryable is False


def test_log_action_is_idempotent() -> None:
    assert LogAction.idempotent is True
