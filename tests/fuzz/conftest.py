"""The fuzz suite's server (one per backend and module) and its fixed hypothesis profile.

The profile is deterministic (``derandomize``, no example database) so that CI runs the same cases
every time; ``RUNBOOKD_FUZZ_EXAMPLES`` changes the number of cases per endpoint (default 300).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from receiver.clock import FakeClock
from tests.conftest import ADMIN, PD_SECRET, SLACK_SECRET, settings_for
from tests.fuzz.server import ThreadServer
from tests.fuzz.strategies import Secrets
from tests.store.conftest import PG_URL, require_pg, with_schema

WEBHOOK_TOKEN = "fuzz-webhook-token"
NOW = 1_800_000_000.0
EXAMPLES = int(os.environ.get("RUNBOOKD_FUZZ_EXAMPLES", "300"))

settings.register_profile(
    "runbookd-fuzz", max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture])
FUZZ = settings.get_profile("runbookd-fuzz")
SECRETS = Secrets(webhook_token=WEBHOOK_TOKEN, admin_token=ADMIN, slack_secret=SLACK_SECRET,
                  pagerduty_secret=PD_SECRET, now=NOW)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    """A runbookd with webhook auth, the admin token and Slack/PagerDuty secrets, on each backend."""
    tmp: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    overrides: dict[str, object] = {
        "webhook": {"auth": {"bearer_token": WEBHOOK_TOKEN}, "read_timeout": "5s"},
        "slack": {"signing_secret": SLACK_SECRET},
        "pagerduty": {"webhook_secret": PD_SECRET, "routing_keys": {"default": "", "secondary": ""}},
    }
    schema = None
    if request.param == "postgresql":
        require_pg()
        schema = f"t_{uuid.uuid4().hex[:16]}"
        overrides["storage"] = with_schema(PG_URL, schema)
    with ThreadServer(settings_for(tmp, None, **overrides), FakeClock(NOW)) as s:
        yield s
    if schema is not None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
