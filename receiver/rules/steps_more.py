"""More playbook step models: ``command``, ``alpaca.close_position``, ``alpaca.get_clock``, and the
retry and result-check keys of ``http``.

They follow the step models of ``receiver.rules.model`` (subclasses of its ``_Step``, tagged by
``action``) and join its ``Step`` union there. String parameters are Jinja2 templates rendered in
the sandbox when the step runs, except ``argv[0]`` of a command, which must be a literal path.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from receiver.rules.step_base import _Step, _Strict

_TEMPLATE = re.compile(r"\{\{|\{%|\{#")
#: ``alpaca.close_position``'s symbol when written literally (the action checks rendered values too).
_SYMBOL = re.compile(r"[A-Z0-9.]{1,12}")


class CommandStep(_Step):
    """``action: command`` — runs ``argv`` without a shell (``receiver.actions.command``).

    ``argv``: one item per argument, each passed as exactly one argument (templates may fill
    items 1…n, e.g. ``"{{ alert.labels.instance }}"``, and a label value never becomes two
    arguments). ``argv[0]`` is a literal absolute path that must also be listed in
    ``command.allowed`` of ``runbookd.yml``. Numbers in ``argv`` are taken as their text.
    """

    model_config = ConfigDict(coerce_numbers_to_str=True)

    action: Literal["command"]
    argv: list[str] = Field(min_length=1)

    @field_validator("argv")
    @classmethod
    def _literal_executable(cls, argv: list[str]) -> list[str]:
        exe = argv[0]
        if _TEMPLATE.search(exe):
            raise ValueError("argv[0] must be a literal path, not a template")
        if not os.path.isabs(exe):
            raise ValueError(f"argv[0] must be an absolute path, got {exe!r}")
        return argv


class AlpacaClosePositionStep(_Step):
    """``action: alpaca.close_position`` — ``DELETE /v2/positions/{symbol}`` through alpaca-py.

    ``symbol`` (template or literal; the rendered value must match ``^[A-Z0-9.]{1,12}$``), and at
    most one of ``qty`` (shares) or ``percentage`` (0-100); neither closes the whole position.
    """

    model_config = ConfigDict(coerce_numbers_to_str=True)

    action: Literal["alpaca.close_position"]
    symbol: str = Field(min_length=1)
    qty: str | None = None
    percentage: str | None = None

    @field_validator("symbol")
    @classmethod
    def _literal_symbol(cls, symbol: str) -> str:
        if not _TEMPLATE.search(symbol) and not _SYMBOL.fullmatch(symbol):
            raise ValueError(f"invalid symbol {symbol!r}: expected 1-12 of A-Z, 0-9 and '.'")
        return symbol

    @model_validator(mode="after")
    def _one_amount(self) -> AlpacaClosePositionStep:
        if self.qty is not None and self.percentage is not None:
            raise ValueError("give qty or percentage, not both")
        return self


class AlpacaGetClockStep(_Step):
    """``action: alpaca.get_clock`` — reads ``GET /v2/clock`` ("market open" / "market closed");
    read-only, so it runs in dry-run too."""

    action: Literal["alpaca.get_clock"]


class HttpRetryAndCheck(_Strict):
    """The retry and result-check keys of ``action: http`` (a base for ``HttpStep``).

    ``retries``: attempts in all (1-10, default 3) for GET, HEAD, PUT, DELETE, and POST with the
    step's ``idempotent: true`` (``_Step.idempotent``, which the action reads from its params);
    ``backoff``: seconds multiplied by 1, 2, 4 … between attempts (default 0.5, at most 10 s
    apart); ``expect_status``: the codes that count as success (default any 2xx);
    ``expect_json``: ``{"dotted.path": value}`` the JSON answer must hold.
    """

    retries: int = Field(default=3, ge=1, le=10)
    backoff: float = Field(default=0.5, ge=0, le=10)
    expect_status: list[int] | None = Field(default=None, min_length=1)
    expect_json: dict[str, Any] = Field(default_factory=dict)

    @field_validator("expect_status")
    @classmethod
    def _codes(cls, codes: list[int] | None) -> list[int] | None:
        for i, code in enumerate(codes or []):
            if not 100 <= code <= 599:
                raise ValueError(f"expect_status[{i}]: {code} is not an HTTP status code")
        return codes
