"""Multiwindow multi-burn-rate alerts with the Workbook's numbers, fed through MinuteCounts."""

from __future__ import annotations

import pytest

from otel_perf.processors.slo.burn_rate import (
    AlertState,
    RuleState,
    Transition,
    WindowBurn,
    evaluate,
    firing_by_severity,
    scaled_rules,
)
from otel_perf.processors.slo.objective import DEFAULT_RULES, AlertSeverity, BurnRateRule
from otel_perf.processors.slo.saved import ALERT
from otel_perf.processors.slo.windows import MinuteCounts

NS = 1_000_000_000
TARGET = 0.999
PAGE, TICKET = AlertSeverity.PAGE, AlertSeverity.TICKET


def at_boundary(counts: MinuteCounts, minute: int, min_events: int = 0) -> list[RuleState]:
    """Evaluate the default rules at the start of ``minute``: windows of closed minutes only."""
    return evaluate(DEFAULT_RULES, lambda w: counts.trailing(w, minute), TARGET, min_events)


def firing(states: list[RuleState]) -> list[int]:
    return [i for i, state in enumerate(states) if state.firing]


def clean(counts: MinuteCounts, minutes: range, per_minute: int = 60) -> None:
    for minute in minutes:
        counts.add(minute, per_minute, per_minute)


DAYS_3 = 3 * 1440  # the Workbook's numbers assume every window is full of traffic


# --- scaling -----------------------------------------------------------------------------------


def test_the_rules_are_written_for_thirty_days() -> None:
    assert scaled_rules(DEFAULT_RULES, 30 * 86400) == DEFAULT_RULES


def test_windows_scale_with_the_slo_window_and_burn_rates_stay() -> None:
    week = scaled_rules(DEFAULT_RULES, 7 * 86400)  # × 7/30, rounded to whole minutes
    assert [(r.long_window_s, r.short_window_s) for r in week] == [
        (840, 60),  # 1 h → 14 min; 5 min → 70 s → 1 min
        (5040, 420),  # 6 h → 84 min; 30 min → 7 min
        (60480, 5040),  # 3 d → 16.8 h; 6 h → 84 min
    ]
    assert [r.burn_rate for r in week] == [14.4, 6.0, 1.0]
    assert [r.severity for r in week] == [r.severity for r in DEFAULT_RULES]
    quarter = scaled_rules(DEFAULT_RULES, 90 * 86400)
    assert quarter[0].long_window_s == 3 * 3600 and quarter[2].long_window_s == 9 * 86400


def test_the_same_rules_and_window_share_one_scaled_tuple() -> None:
    week = scaled_rules(DEFAULT_RULES, 7 * 86400)
    assert scaled_rules(list(DEFAULT_RULES), 7 * 86400) is week
    assert scaled_rules(DEFAULT_RULES, 90 * 86400) is not week


def test_tiny_slo_windows_keep_whole_minutes_and_long_above_short() -> None:
    hour = scaled_rules(DEFAULT_RULES, 3600)  # × 1/720
    assert [(r.long_window_s, r.short_window_s) for r in hour] == [(120, 60), (120, 60), (360, 60)]


# --- evaluate ----------------------------------------------------------------------------------


def test_evaluate_reports_both_windows_and_sums_each_window_once() -> None:
    sums = {3600: (9_856, 10_000), 300: (800, 1_000), 21600: (59_700, 60_000)}
    sums |= {1800: (4_990, 5_000), 259200: (1_000_000, 1_000_000)}
    asked: list[float] = []

    def sums_for_window(window_s: float) -> tuple[int, int]:
        asked.append(window_s)
        return sums[int(window_s)]

    states = evaluate(DEFAULT_RULES, sums_for_window, TARGET)
    assert sorted(asked) == [300, 1800, 3600, 21600, 259200]  # 6 h serves two rules
    page_1h = states[0]
    assert page_1h.long == WindowBurn(3600, 9_856, 10_000, 14.4)  # 0.0144 / 0.001: on the line
    assert page_1h.short == WindowBurn(300, 800, 1_000, 200.0)
    assert page_1h.firing  # ≥, so a burn exactly at the threshold fires
    assert states[1].long.burn_rate == pytest.approx(5.0)  # 6 h: 300 / 60 000 / 0.001
    assert not states[1].firing  # 5 < 6 although the 30 min window burns at 2
    assert not states[2].firing  # nothing bad in 3 d
    assert firing_by_severity(states) == {PAGE: True, TICKET: False}


def test_a_full_outage_pages_at_the_first_minute_boundary_past_52_seconds() -> None:
    # 14.4 × 0.001 × 3600 s = 51.84 s of full outage fill the 1 h window's share
    start = DAYS_3
    for offset_s in (0, 8, 9, 30, 59):  # when in minute ``start`` the outage begins
        counts = MinuteCounts()
        clean(counts, range(start))  # 1 request a second
        counts.add(start, offset_s, 60)
        first = None
        for minute in range(start + 1, start + 10):
            states = at_boundary(counts, minute)
            if firing(states):
                first = minute
                break
            counts.add(minute, 0, 60)
        assert first is not None
        outage_s = 60 * (first - start) - offset_s
        assert 52 <= outage_s < 52 + 60, offset_s
        assert firing(states) == [0]  # the 6 h rule needs 6 × 0.001 × 6 h = 129.6 s
        expected = {0: 1, 8: 1, 9: 2, 30: 2, 59: 2}[offset_s]  # minutes after ``start``
        assert first - start == expected


def test_a_sustained_outage_fires_every_rule_in_turn() -> None:
    counts = MinuteCounts()
    clean(counts, range(DAYS_3))
    seen = []
    for minute in range(DAYS_3, DAYS_3 + 6):
        counts.add(minute, 0, 60)
        seen.append(firing(at_boundary(counts, minute + 1)))
    # 60 s ≥ 51.84 s: 1 h rule; 180 s ≥ 129.6 s: 6 h rule; 300 s ≥ 0.001 × 3 d = 259.2 s: ticket
    assert seen == [[0], [0], [0, 1], [0, 1], [0, 1, 2], [0, 1, 2]]


def test_a_two_times_burn_opens_a_ticket_after_a_day_and_a_half_and_never_pages() -> None:
    counts = MinuteCounts()
    clean(counts, range(3 * 1440), per_minute=1000)  # three clean days first
    start, fired = 3 * 1440, None
    for k in range(1, 2 * 1440 + 1):  # 2 bad a minute of 1000: burn rate 2
        counts.add(start + k - 1, 998, 1000)
        states = at_boundary(counts, start + k)
        assert not firing_by_severity(states)[PAGE]
        if fired is None and firing_by_severity(states)[TICKET]:
            fired = k
    # 3 d window: 2k / 4 320 000 / 0.001 = k / 2160 ≥ 1; the 6 h window burns at 2 by then
    assert fired == 2160
    assert states[2].long.burn_rate == pytest.approx(2 * 2880 / 4_320_000 / 0.001)
    assert states[2].short.burn_rate == pytest.approx(2.0)


def test_a_half_times_burn_fires_nothing() -> None:
    counts = MinuteCounts()
    for minute in range(4 * 1440):  # 1 bad of 2000 a minute: burn rate 0.5
        counts.add(minute, 1999, 2000)
        if minute % 7 == 0 or minute > 4 * 1440 - 60:
            assert not firing(at_boundary(counts, minute + 1))
    assert at_boundary(counts, 4 * 1440)[2].long.burn_rate == pytest.approx(0.5)


def test_min_events_keeps_a_quiet_hour_from_paging() -> None:
    counts = MinuteCounts()
    for minute in (0, 12, 24, 36):
        counts.add(minute, 1, 1)
    counts.add(59, 0, 1)  # 1 failure of 5 requests: burn 200 over 1 h, 1000 over 5 min
    assert firing(at_boundary(counts, 60, min_events=0)) == [0, 1, 2]
    states = at_boundary(counts, 60, min_events=10)
    assert firing(states) == []
    assert (states[0].long.total, states[0].short.total) == (5, 1)


def test_a_page_resolves_once_the_short_windows_clear() -> None:
    counts = MinuteCounts()
    start = DAYS_3
    clean(counts, range(start))
    alert = AlertState("checkout", PAGE)
    transitions: list[Transition] = []
    rule_1h_clear = None
    for minute in range(start, start + 80):
        bad = 60 if minute < start + 10 else 0  # a 10 minute outage
        counts.add(minute, 60 - bad, 60)
        states = at_boundary(counts, minute + 1)
        if rule_1h_clear is None and minute >= start + 10 and not states[0].firing:
            rule_1h_clear = minute + 1 - start
        change = alert.update(firing_by_severity(states)[PAGE], (minute + 1) * 60 * NS)
        if change:
            transitions.append(change)
    assert rule_1h_clear == 15  # its 5 min window holds no outage minute from then on
    # the 6 h / 30 min rule (10 / 360 / 0.001 = 27.8 ≥ 6 over 6 h) pages until the outage
    # leaves its 30 min window; the long windows still burn, but they alone do not page
    assert transitions == [
        Transition("checkout", PAGE, "firing", (start + 1) * 60 * NS, (start + 1) * 60 * NS),
        Transition("checkout", PAGE, "resolved", (start + 40) * 60 * NS, (start + 1) * 60 * NS),
    ]
    assert transitions[1].duration_ns == 39 * 60 * NS
    assert states[1].long.burn_rate == pytest.approx(10 / 360 / 0.001)


# --- the alert state machine -------------------------------------------------------------------


def test_alert_state_transitions_only_on_change() -> None:
    alert = AlertState("checkout", TICKET)
    assert alert.update(False, 1) is None
    assert alert.update(True, 2) == Transition("checkout", TICKET, "firing", 2, 2)
    assert alert.update(True, 3) is None
    assert alert.since_ns == 2
    assert alert.update(False, 5) == Transition("checkout", TICKET, "resolved", 5, 2)
    assert alert.update(False, 6) is None
    assert ALERT.dump_python(alert, mode="json") == {
        "objective": "checkout",
        "severity": "ticket",
        "firing": False,
        "since_ns": None,
    }


def test_alert_state_round_trips() -> None:
    alert = AlertState("checkout", PAGE)
    alert.update(True, 42)
    again = ALERT.validate_python(ALERT.dump_python(alert, mode="json"))
    assert again == alert
    assert again.update(False, 50) == Transition("checkout", PAGE, "resolved", 50, 42)


def test_rules_of_one_severity_fire_together() -> None:
    rule = BurnRateRule(long_window_s=3600, short_window_s=300, burn_rate=14.4, severity=PAGE)
    quiet = WindowBurn(3600, 1, 1, 0.0)
    on, off = RuleState(rule, quiet, quiet, True), RuleState(rule, quiet, quiet, False)
    assert firing_by_severity([off, on]) == {PAGE: True}
    assert firing_by_severity([off, off]) == {PAGE: False}
    assert firing_by_severity([]) == {}
