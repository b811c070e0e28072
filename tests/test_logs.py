"""receiver/logs.py: runbookd's events and psycopg_pool's log lines come out as one JSON stream."""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg_pool
import pytest
import structlog

from receiver.logs import configure_logging


def _lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_psycopg_pool_warnings_are_json_lines_like_runbookds_own(capsys: pytest.CaptureFixture[str]) -> None:
    """A real psycopg_pool pool that cannot connect logs its warning as a structlog JSON line, with
    level, ISO UTC timestamp and logger name -- and none of its INFO chatter."""
    configure_logging("info", "json")
    structlog.get_logger("runbookd").info("own event", n=1)
    pool = psycopg_pool.ConnectionPool("postgresql://runbookd:s3cret-pass@127.0.0.1:1/none?connect_timeout=1",
                                       min_size=1, open=False, name="docs-pool")
    try:
        pool.open()
        with pytest.raises(psycopg_pool.PoolTimeout):
            pool.wait(timeout=1.0)  # the worker's first attempt is refused at once and logged
    finally:
        pool.close(timeout=1.0)
    lines = _lines(capsys.readouterr().err)
    own = next(x for x in lines if x["event"] == "own event")
    assert own["level"] == "info" and own["n"] == 1
    pool_lines = [x for x in lines if x.get("logger") == "psycopg.pool"]
    assert pool_lines, lines
    warning = next(x for x in pool_lines if x["event"].startswith("error connecting in 'docs-pool'"))
    assert warning["level"] == "warning"
    assert warning["timestamp"].endswith("Z") and set(own) - {"n"} <= set(warning)
    assert all(x["level"] != "info" for x in pool_lines)


def test_configuring_twice_keeps_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    """configure_logging again (as the ingest process does) prints each line once, with the latest
    secrets redacted from the library's message too."""
    configure_logging("info", "json")
    configure_logging("warning", "json", secrets=["s3cret-pass"])
    logging.getLogger("psycopg.pool").warning("discarding %s", "postgresql://u:s3cret-pass@db/x")
    lines = _lines(capsys.readouterr().err)
    assert [x["event"] for x in lines] == ["discarding postgresql://u:<redacted>@db/x"]
    assert lines[0]["logger"] == "psycopg.pool"
