"""The announcer's memory survives a restart through the store."""

from __future__ import annotations

from otel_perf.component.announce import Announcer
from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.store import Store

S = 1_000_000_000


def finding(subject: str, t_s: int, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(
        kind=Kind.SLOW_QUERY,
        severity=severity,
        service="shop",
        subject=subject,
        time_ns=t_s * S,
        summary=subject,
        source="bottlenecks",
    )


def test_what_was_said_round_trips_and_is_not_said_again() -> None:
    store = Store(":memory:")
    first = Announcer(quiet_ns=300 * S)
    (opened,) = first.evaluate([finding("q", 60)], {finding("q", 60).key: 40.0}, 60 * S)
    assert opened.state == State.OPEN and first.dirty
    first.save(store, "bottlenecks", 60 * S)
    assert not first.dirty
    again = Announcer(quiet_ns=300 * S)
    again.load(store, "bottlenecks")
    ((restored, magnitude),) = again.said()
    assert restored == opened
    # the same magnitude bucket within the quiet period: nothing new to say
    assert again.evaluate([finding("q", 120)], {opened.key: magnitude}, 120 * S) == []
    # a severity change is said; absence resolves
    (updated,) = again.evaluate(
        [finding("q", 180, Severity.CRITICAL)], {opened.key: magnitude}, 180 * S
    )
    assert updated.state == State.UPDATED
    (resolved,) = again.evaluate([], {}, 240 * S)
    assert resolved.state == State.RESOLVED


def test_entries_saved_by_another_version_are_forgotten() -> None:
    announcer = Announcer(quiet_ns=S, max_keys=2)
    good = Announcer(quiet_ns=S)
    good.evaluate([finding("a", 1)], {}, S)
    body = good.document()
    announcer.restore({"said": [["x", "warning"], *body["said"], "junk"]})
    assert [f.subject for f, _ in announcer.said()] == ["a"]
    announcer.restore(None)  # nothing saved: nothing restored
    assert len(announcer.said()) == 1
