"""Which windows cover an incident (pure): every firing alert must be matched, windows combine, an
inactive window covers nothing, and a mute interval ends at the first minute outside it."""

from __future__ import annotations

from receiver.maintenance.windows import covering, mute_ends
from receiver.model import Incident, IncidentAlert
from receiver.store.maintenance import WindowRow

T = 1_800_000_000.0


def window(wid: str, *matchers: str, start: float = T - 60, end: float = T + 3600) -> WindowRow:
    return WindowRow(wid, matchers, start, end, "work", "ada", T - 60)


def incident(*services: str, status: str = "firing") -> Incident:
    alerts = tuple(IncidentAlert(f"{i:016x}", "2027-01-15T07:59:00Z", status,
                                 {"alertname": "Down", "service": s}, {}, T - 60, None)
                   for i, s in enumerate(services))
    return Incident("i1", "down", "down", "P1", "firing", {"alertname": "Down"}, "Down", None, "v", T - 60, T,
                    alerts=alerts)


def test_one_alert_outside_every_window_is_not_covered() -> None:
    """Two firing alerts, a window for one of them: not covered (the other alert pages)."""
    assert covering([window("a", 'service="risk"')], incident("risk", "pricing"), T) == []


def test_two_windows_together_cover_both_alerts() -> None:
    """A window per service covers the incident; both are named, soonest end first."""
    w1, w2 = window("a", 'service="risk"', end=T + 7200), window("b", 'service="pricing"')
    assert [w.id for w in covering([w1, w2], incident("risk", "pricing"), T)] == ["b", "a"]


def test_resolved_alerts_do_not_need_covering() -> None:
    """Only firing alerts count; with none firing, the identity labels decide."""
    inc = incident("risk", status="resolved")
    assert [w.id for w in covering([window("a", 'alertname="Down"')], inc, T)] == ["a"]
    assert covering([window("a", 'service="risk"')], inc, T) == []


def test_window_outside_its_span_covers_nothing() -> None:
    """Before its start and from its end on, a window covers nothing."""
    w = window("a", 'service="risk"', start=T + 10, end=T + 20)
    assert covering([w], incident("risk"), T) == []
    assert covering([w], incident("risk"), T + 20) == []
    assert covering([w], incident("risk"), T + 10) == [w]


def test_mute_ends_at_the_first_minute_outside() -> None:
    """Muted until T+5m (by the given predicate): the end is that minute boundary."""
    def inside(_: str, at: float) -> bool:
        return at < T + 300

    assert mute_ends(["x"], inside, T + 17) == T + 300
