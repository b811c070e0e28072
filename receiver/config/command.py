"""``command:`` in ``runbookd.yml`` — what the ``command`` action may run and how.

Deployment config, not policy: the rule files say *which* allow-listed executable a step runs and
with which arguments; only this config (in the deployment's hands) says which executables exist
for runbookd at all. Kept free of other runbookd imports so ``receiver.settings`` can import it.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from receiver.durations import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration)]
_ENV_NAME_FORBIDDEN = ("=", "\0")


class CommandConfig(BaseModel):
    """``command:`` — the allow-list and limits of ``action: command``.

    - ``allowed``: absolute, normalised paths of the executables a step may run (``argv[0]`` must be
      one of them, compared as strings; no ``PATH`` lookup). Empty (the default) refuses every
      command.
    - ``timeout``: the longest any command may run, in seconds (or a Prometheus duration such as
      ``30s``); a step's own ``timeout`` can only shorten it. Default 30.
    - ``max_output_bytes``: how much of stdout and of stderr (each) is kept for the timeline;
      the rest is read and dropped. Default 65536.
    - ``env``: the child's whole environment besides ``PATH=/usr/bin:/bin`` (which it may
      override): runbookd's own environment, with its secrets, is never inherited.

    Raises ``pydantic.ValidationError`` for a relative or non-normalised path in ``allowed``, a
    non-positive limit or an invalid variable name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: list[str] = Field(default_factory=list)
    timeout: Seconds = Field(default=30.0, gt=0)
    max_output_bytes: int = Field(default=65536, gt=0)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("allowed")
    @classmethod
    def _absolute(cls, paths: list[str]) -> list[str]:
        for i, path in enumerate(paths):
            if not os.path.isabs(path):
                raise ValueError(f"allowed[{i}]: {path!r} is not an absolute path")
            if os.path.normpath(path) != path or path.endswith("/"):
                raise ValueError(f"allowed[{i}]: {path!r} is not normalised (write {os.path.normpath(path)!r})")
            if "\0" in path:
                raise ValueError(f"allowed[{i}]: contains a NUL byte")
        return paths

    @field_validator("env")
    @classmethod
    def _names(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            if not name or any(c in name for c in _ENV_NAME_FORBIDDEN):
                raise ValueError(f"env: invalid variable name {name!r}")
            if "\0" in value:
                raise ValueError(f"env.{name}: contains a NUL byte")
        return env
