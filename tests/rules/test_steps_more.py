"""The command / alpaca.close_position / alpaca.get_clock step models and the http retry keys."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from receiver.actions.alpaca import AlpacaClosePosition
from receiver.actions.command import CommandAction
from receiver.config.command import CommandConfig
from receiver.rules.model import HttpStep
from receiver.rules.steps_more import AlpacaClosePositionStep, AlpacaGetClockStep, CommandStep, HttpRetryAndCheck
from receiver.settings import AlpacaConfig

Steps = TypeAdapter(
    Annotated[CommandStep | AlpacaClosePositionStep | AlpacaGetClockStep, Field(discriminator="action")]
)


class HttpStepWithChecks(HttpStep, HttpRetryAndCheck):
    """``HttpStep`` as the lead composes it with the retry and check keys."""


def step(**data: Any) -> Any:
    return Steps.validate_python({"name": "s", **data})


def test_steps_are_told_apart_by_action() -> None:
    assert type(step(action="command", argv=["/usr/bin/true"])) is CommandStep
    assert type(step(action="alpaca.close_position", symbol="SPY")) is AlpacaClosePositionStep
    assert type(step(action="alpaca.get_clock")) is AlpacaGetClockStep


def test_command_argv_items_may_be_templates_but_not_the_executable() -> None:
    s = step(action="command", argv=["/usr/local/bin/restart", "--host", "{{ alert.labels.instance }}", 3])
    assert s.argv == ["/usr/local/bin/restart", "--host", "{{ alert.labels.instance }}", "3"]
    with pytest.raises(ValidationError, match="argv\\[0\\] must be a literal path"):
        step(action="command", argv=["{{ alert.labels.exe }}"])
    with pytest.raises(ValidationError, match="must be an absolute path"):
        step(action="command", argv=["restart"])
    with pytest.raises(ValidationError):
        step(action="command", argv=[])
    with pytest.raises(ValidationError):
        step(action="command", argv="/bin/sh -c 'reboot'")


def test_close_position_checks_a_literal_symbol_and_one_amount() -> None:
    assert step(action="alpaca.close_position", symbol="{{ alert.labels.symbol }}").symbol.startswith("{{")
    assert step(action="alpaca.close_position", symbol="SPY", qty=10).qty == "10"
    with pytest.raises(ValidationError, match="invalid symbol 'spy'"):
        step(action="alpaca.close_position", symbol="spy")
    with pytest.raises(ValidationError, match="not both"):
        step(action="alpaca.close_position", symbol="SPY", qty="1", percentage="50")


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        step(action="alpaca.get_clock", symbol="SPY")


def test_http_retry_and_check_keys() -> None:
    s = HttpStepWithChecks.model_validate(
        {"name": "halt", "action": "http", "url": "http://x/halt", "idempotent": True, "retries": 5,
         "expect_status": [200, 409], "expect_json": {"status.halted": True}}
    )
    dumped = s.model_dump(mode="json", by_alias=True)
    assert dumped["retries"] == 5 and dumped["idempotent"] is True and dumped["backoff"] == 0.5
    assert dumped["expect_status"] == [200, 409] and dumped["expect_json"] == {"status.halted": True}
    with pytest.raises(ValidationError, match="not an HTTP status code"):
        HttpStepWithChecks.model_validate({"name": "h", "action": "http", "url": "u", "expect_status": [42]})
    with pytest.raises(ValidationError):
        HttpStepWithChecks.model_validate({"name": "h", "action": "http", "url": "u", "retries": 0})


async def test_dumped_steps_are_parameters_the_actions_take() -> None:
    """The runner copies ``model_dump(mode="json", by_alias=True)`` into the job row and passes it on."""
    cmd = step(action="command", argv=[sys.executable, "-c", "print(1)"]).model_dump(mode="json", by_alias=True)
    result = await CommandAction(CommandConfig(allowed=[sys.executable])).run(cmd, dry_run=True, timeout=5)
    assert result.outcome == "dry_run"
    close = step(action="alpaca.close_position", symbol="SPY").model_dump(mode="json", by_alias=True)
    assert close["qty"] is None and close["percentage"] is None
    skipped = await AlpacaClosePosition(AlpacaConfig()).run(close, dry_run=True, timeout=5)
    assert skipped.outcome == "skipped"
