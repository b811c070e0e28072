"""Secrets never reach the store: job results, timeline, notification text, the API and the logs are redacted.

The fake trading system echoes the bearer token (``TRADING_ADMIN_TOKEN``) in its answers; after the
step, the token is nowhere in the database (every byte of the SQLite file and its WAL; every row of
every PostgreSQL table), nor in the admin API's answers, nor in the post-mortem, nor in the log.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from receiver.logs import configure_logging
from tests.conftest import TESTDATA, TRADING_TOKEN, alert, payload, settings_for
from tests.store.conftest import PG_URL, pg_schema, require_pg, with_schema

__all__ = ["pg_schema"]  # the fixture, used by ``storage``


def _sqlite_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("rb.db*"))


def _pg_rows(url: str) -> str:
    import psycopg

    from receiver.store.postgres import parse_postgres_url

    conninfo, schema = parse_postgres_url(url)
    out = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))]
        assert "jobs" in tables and "timeline" in tables
        for t in tables:
            out += [r[0] for r in conn.execute(f'SELECT t::text FROM "{schema}"."{t}" t')]
    return "\n".join(out)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings overrides for each backend, and a function that returns everything stored as text."""
    if request.param == "sqlite":
        return {"overrides": {}, "dump": lambda: _sqlite_bytes(tmp_path).decode("utf-8", "replace")}
    require_pg()
    url = with_schema(PG_URL, request.getfixturevalue("pg_schema")())
    return {"overrides": {"storage": url}, "dump": lambda: _pg_rows(url)}


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Logging configured as ``runbookd serve`` does it (JSON lines, the settings' secrets redacted), into
    a buffer instead of stderr; returns a function giving what was logged so far."""
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):  # configure_logging binds the sys.stderr of this moment
        configure_logging("debug", "json", settings_for(tmp_path, None, secrets={"t": TRADING_TOKEN}).secret_values())
    yield buf.getvalue
    structlog.reset_defaults()


async def _everything_shown(rb: Any) -> str:
    [inc] = await rb.api("/api/v1/incidents")
    detail = await rb.api(f"/api/v1/incidents/{inc['id']}")
    r = await rb.client.get(f"/api/v1/incidents/{inc['id']}/postmortem",
                            headers={"Authorization": "Bearer admin-token-for-tests"})
    return f"{inc}\n{detail}\n{await r.text()}"


LEAKY = {"rule_files": [str(TESTDATA / "rules" / "secrets.yml")], "command": {"allowed": ["/usr/bin/printf"]}}


async def test_a_token_in_step_answers_and_summaries_is_stored_nowhere(
        fakes: Any, make_runbookd: Any, storage: dict[str, Any], logged: Any) -> None:
    """Steps whose answer echoes the bearer token, whose command line and output hold it, whose log
    message and notification mention it: job results, timeline, notifications and the API show
    ``<redacted>``, and no byte of the store holds the token."""
    fakes.trading.echo_auth = True
    rb = await make_runbookd(fakes, **storage["overrides"], **LEAKY)
    await rb.post_alerts(payload(alert()))
    await rb.run()
    inc_id = (await rb.api("/api/v1/incidents"))[0]["id"]
    await rb.api_post(f"/api/v1/incidents/{inc_id}/resolve")
    await rb.run()
    [call] = fakes.trading.calls("/admin/trading/emergency-stop")
    assert call["headers"]["Authorization"] == f"Bearer {TRADING_TOKEN}"  # the token was sent, and echoed
    shown = await _everything_shown(rb)
    assert "<redacted>" in shown
    steps = [j for j in await rb.c.store.read(lambda tx: tx.jobs_of(inc_id)) if j.kind == "step"]
    assert [j.state for j in steps] == ["done"] * 4
    sent = " ".join(str(r["json"]) for r in fakes.slack.requests if r.get("json"))
    assert "used &lt;redacted&gt;" in sent and TRADING_TOKEN not in sent  # Slack escapes < and >
    stored = storage["dump"]()
    assert "emergency-stop" in stored  # the dump does hold the step's rows
    assert TRADING_TOKEN not in stored
    assert TRADING_TOKEN not in shown
    logs = logged()
    assert '"step done"' in logs
    assert TRADING_TOKEN not in logs


async def test_a_token_echoed_in_an_error_answer_is_stored_nowhere(
        fakes: Any, make_runbookd: Any, storage: dict[str, Any], logged: Any) -> None:
    """A step that fails with the token in the error body: the failure reason in the job result, on the
    timeline and in the page that says ACTION NEEDED is redacted; the store holds no copy of the token."""
    fakes.trading.fail_next(5, 400, path="/admin/trading/emergency-stop",
                            body={"error": f"token Bearer {TRADING_TOKEN} is not allowed here"})
    rb = await make_runbookd(fakes, **storage["overrides"])
    await rb.post_alerts(payload(alert()))
    await rb.run()
    shown = await _everything_shown(rb)
    assert "is not allowed here" in shown and "<redacted>" in shown
    assert TRADING_TOKEN not in shown
    assert TRADING_TOKEN not in storage["dump"]()
    logs = logged()
    assert '"step done"' in logs
    assert TRADING_TOKEN not in logs
    sent = " ".join(str(r["json"]) for r in fakes.slack.requests if r.get("json"))
    assert "ACTION NEEDED" in sent and TRADING_TOKEN not in sent


@pytest.mark.parametrize("ingest_process", [False, True], ids=["writer-thread", "ingest-process"])
async def test_timeline_written_at_ingest_is_redacted(
        fakes: Any, make_runbookd: Any, ingest_process: bool) -> None:
    """On SQLite alerts are applied inside ingest's commit (on the writer thread, or in the ingest child
    process that ``serve`` uses): the timeline events written there are redacted like every other
    write. A label quoting the token shows ``<redacted>`` in the ``alert.firing`` event."""
    rb = await make_runbookd(fakes, webhook={"ingest_process": ingest_process})
    leaky = alert(command=f"curl -H 'Authorization: Bearer {TRADING_TOKEN}'")  # a label quoting the token
    assert (await rb.post_alerts(payload(leaky))).status == 200
    await rb.run()
    [inc] = await rb.api("/api/v1/incidents")
    timeline = (await rb.api(f"/api/v1/incidents/{inc['id']}"))["timeline"]
    [fired] = [e for e in timeline if e["kind"] == "alert.firing"]
    assert fired["data"]["labels"]["command"] == "curl -H 'Authorization: Bearer <redacted>'"
    assert TRADING_TOKEN not in str(timeline)
