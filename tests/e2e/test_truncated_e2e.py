"""End to end with the real Alertmanager and ``max_alerts: 1``: a truncated group never resolves on the
alerts it shows (issue 12 item 4; the rule is in docs/escalation.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.harness import Alertmanager, Runbookd, make_alert, resolved, wait_until

pytestmark = pytest.mark.e2e


def held(runbookd: Runbookd) -> dict[str, Any] | None:
    """The TruncatedDemo incident once its timeline says it is held open, else ``None``."""
    incidents = runbookd.incidents(alertname="TruncatedDemo")
    if not incidents:
        return None
    detail = runbookd.incident(incidents[0]["id"])
    return detail if any(e["kind"] == "incident.held" for e in detail["timeline"]) else None


def test_three_alerts_with_max_alerts_1_do_not_resolve_the_incident(
        runbookd: Runbookd, make_alertmanager: Callable[..., Alertmanager]) -> None:
    """Alertmanager shows one alert of three (truncatedAlerts 2): the incident says 2 were left out,
    and when the group resolves (the body shows the one alert resolved, still truncated) it stays open."""
    am = make_alertmanager(runbookd, max_alerts=1)
    start = datetime.now(UTC) - timedelta(seconds=5)
    alerts = [make_alert({"alertname": "TruncatedDemo", "job": "batch", "instance": f"host-{i}:9100"},
                         {"summary": "one of three"}, starts_at=start) for i in range(3)]
    am.post_alerts(alerts)
    [inc] = wait_until(lambda: [i for i in runbookd.incidents(alertname="TruncatedDemo")
                                if runbookd.incident(i["id"])["truncated_alerts"] == 2],
                       timeout=20, message="an incident that says Alertmanager left 2 alerts out")
    assert len(inc["alerts"]) == 1
    am.post_alerts([resolved(a) for a in alerts])
    detail = wait_until(lambda: held(runbookd), timeout=20, message="the incident held open")
    assert detail["status"] == "firing"
    assert detail["resolved_at"] is None
    assert [a["status"] for a in detail["alerts"]] == ["resolved"]
    assert runbookd.metric("runbookd_alerts_truncated_total") >= 4
