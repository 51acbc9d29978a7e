"""MinuteCounts ring arithmetic, timeslices, persistence; calendar windows across DST."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_perf.processors.slo.objective import BudgetingMethod, Objective, SLIKind, TimeWindow
from otel_perf.processors.slo.windows import (
    FIRST_MINUTE_SLOTS,
    MINUTE_HORIZON,
    MinuteCounts,
    calendar_start,
    no_bad_events,
    nominal_window_s,
    timeslice_rule,
    window_range,
)

NS = 1_000_000_000
BASE = 28_000_000  # a minute in 2023: ring positions are taken modulo the ring size


def ninety_percent(good: int, total: int) -> bool:
    return good * 10 >= total * 9


def steady(minute_horizon: int = 90, span_minutes: int = 300, minutes: int = 400) -> MinuteCounts:
    """9 good of 10 events in every minute 0 … minutes-1; head = minutes-1."""
    counts = MinuteCounts(minute_horizon, span_minutes)
    for minute in range(minutes):
        counts.add(minute, 9, 10)
    return counts


# --- exact sums, the hour boundary, rounding --------------------------------------------------


def test_ring_geometry_of_a_small_counter() -> None:
    counts = steady()  # head 399; minute ring 310 … 399; hours 1 … 6 (minutes 60 … 419)
    assert (counts.head_minute, counts.horizon_minute, counts.oldest_minute) == (399, 310, 60)
    assert counts.nbytes == 90 * 2 * 8 + 90 * 2 + 6 * 4 * 8  # counts, flags, hours


def test_sums_inside_the_minute_horizon_are_exact() -> None:
    counts = steady()
    assert counts.sum(315, 318) == (27, 30)
    assert counts.sum(310, 400) == (810, 900)
    assert counts.sum(390, 10_000) == (90, 100)  # clamped at the head


def test_an_edge_older_than_the_minute_horizon_rounds_down_to_its_hour() -> None:
    counts = steady()
    assert counts.sum(130, 320) == (1800, 2000)  # [120, 320): 200 minutes
    assert counts.sum(130, 400) == (2520, 2800)  # [120, 400): 280 minutes
    assert counts.sum(130, 250) == (1080, 1200)  # [120, 240): 120 minutes
    assert counts.sum(245, 250) == (0, 0)  # [240, 240)
    assert counts.sum(0, 400) == (3060, 3400)  # clamped to the oldest hour kept: [60, 400)


def test_the_boundary_hour_is_split_exactly_between_the_rings() -> None:
    counts = steady()
    counts.add(305, 0, 1000)  # hour 5 (300 … 359) straddles the horizon at 310
    counts.add(312, 0, 7)
    assert counts.sum(300, 310) == (90, 1100)
    assert counts.sum(310, 320) == (90, 107)
    assert counts.sum(60, 310)[1] + counts.sum(310, 400)[1] == counts.sum(60, 400)[1] == 4407


def test_trailing_windows_end_before_the_given_minute() -> None:
    counts = steady()
    assert counts.trailing(300, to_minute=400) == (45, 50)  # minutes 395 … 399
    assert counts.trailing(61, to_minute=400) == (18, 20)  # rounded up to 2 whole minutes


# --- late data, gaps, dropped and invalid data --------------------------------------------------


def test_late_data_inside_the_horizon_is_added_in_place() -> None:
    counts = steady()
    assert counts.add(350, 0, 5)
    assert counts.sum(350, 351) == (9, 15)
    assert counts.late_adds == 1


def test_late_data_older_than_the_horizon_lands_in_its_hour() -> None:
    counts = steady()
    assert counts.add(125, 3, 3)
    assert counts.sum(120, 180) == (540 + 3, 600 + 3)


def test_data_older_than_everything_kept_is_ignored_and_counted() -> None:
    counts = steady()
    assert not counts.add(59, 1, 4)
    assert (counts.dropped_adds, counts.dropped_events) == (1, 4)
    assert counts.sum(0, 400) == (3060, 3400)


def test_invalid_counts_are_ignored_and_counted() -> None:
    counts = steady()
    assert not counts.add(399, 5, 4)
    assert not counts.add(399, -1, 4)
    assert counts.invalid_adds == 2
    assert counts.sum(399, 400) == (9, 10)


def test_a_gap_longer_than_the_rings_clears_them() -> None:
    counts = steady()
    counts.advance(399 + 10_000)
    assert counts.sum(0, 20_000) == (0, 0)
    counts.add(10_400, 1, 2)
    assert counts.sum(0, 20_000) == (1, 2)


def test_a_gap_within_the_rings_keeps_what_is_still_inside() -> None:
    counts = steady()
    counts.advance(429)  # 30 empty minutes: the minute ring now starts at 340
    assert counts.sum(340, 430) == (540, 600)
    assert counts.sum(120, 430) == (2520, 2800)


def test_time_does_not_go_back() -> None:
    counts = steady()
    counts.advance(100)
    assert counts.head_minute == 399


def test_an_empty_counter_answers_zero() -> None:
    counts = MinuteCounts()
    assert counts.sum(0, 10**9) == (0, 0)
    assert counts.timeslices(0, 10**9) == (0, 0)


# --- timeslices ---------------------------------------------------------------------------------


def test_timeslices_count_closed_minutes_by_the_rule() -> None:
    counts = MinuteCounts(90, 300, ninety_percent)
    for minute in range(400):
        good = 8 if minute % 4 == 0 else 9  # every 4th minute is below 90 %
        if minute % 10 != 5:  # minutes ending in 5 have no data
            counts.add(minute, good, 10)
    # [320, 400): minute 399 is still open; of 320 … 398, 79 - 8 = 71 have data (not 325, 335,
    # …, 395); the multiples of 4 (320, 324, …, 396: 20) are bad
    assert counts.timeslices(320, 400) == (51, 71)
    # [120, 320) through the hour ring: 200 minutes, 20 without data, 50 multiples of 4
    assert counts.timeslices(130, 320) == (130, 180)
    counts.advance(400)
    assert counts.timeslices(399, 400) == (1, 1)  # closed now; 9 of 10 is good


def test_late_data_decides_a_closed_minute_again() -> None:
    counts = MinuteCounts(90, 300, ninety_percent)
    for minute in range(400):
        counts.add(minute, 9, 10)
    assert counts.timeslices(300, 399) == (99, 99)
    counts.add(350, 0, 10)  # 9 of 20 now
    counts.add(305, 0, 10)  # left the minute ring: its verdict stays, its events count
    assert counts.timeslices(300, 399) == (98, 99)
    assert counts.sum(300, 310) == (90, 110)
    counts.add(395, 1, 1)  # late but still fine: 10 of 11
    assert counts.timeslices(300, 399) == (98, 99)


def test_a_minute_ring_shorter_than_an_hour_leaves_the_open_minute_out() -> None:
    counts = MinuteCounts(30, 300, ninety_percent)  # the ring (16 … 45) sits inside hour 0
    for minute in range(46):
        counts.add(minute, 9, 10)
    assert counts.timeslices(0, 100) == (45, 45)  # 0 … 44; 45 is open
    assert counts.sum(0, 100) == (414, 460)


def test_timeslice_rules_follow_the_objective() -> None:
    throughput = Objective(
        name="t", service="s", kind=SLIKind.THROUGHPUT, min_rps=1, max_rps=10, target=0.99
    )
    rule = timeslice_rule(throughput)  # 60 … 600 requests a minute
    assert [rule(0, n) for n in (59, 60, 600, 601)] == [False, True, True, False]
    ratio = Objective(
        name="r",
        service="s",
        kind=SLIKind.LATENCY,
        threshold_s=0.2,
        timeslice_target=0.95,
        budgeting=BudgetingMethod.TIMESLICES,
        target=0.99,
    )
    rule = timeslice_rule(ratio)
    assert [rule(94, 100), rule(95, 100), rule(0, 0)] == [False, True, True]
    plain = Objective(name="p", service="s", kind=SLIKind.AVAILABILITY, target=0.99)
    assert timeslice_rule(plain) is no_bad_events


# --- persistence and size -----------------------------------------------------------------------


def test_state_round_trips_through_json() -> None:
    counts = MinuteCounts(90, 300, ninety_percent)
    for minute in range(BASE, BASE + 400):
        counts.add(minute, minute % 10, 9)
    counts.add(BASE, 1, 1)
    data = json.loads(json.dumps(counts.to_dict()))
    again = MinuteCounts.from_dict(data, ninety_percent)
    for start, stop in [(BASE, BASE + 400), (BASE + 130, BASE + 320), (BASE + 350, BASE + 351)]:
        assert again.sum(start, stop) == counts.sum(start, stop)
        assert again.timeslices(start, stop) == counts.timeslices(start, stop)
    assert again.to_dict() == counts.to_dict()


def test_a_corrupt_state_is_refused() -> None:
    data = MinuteCounts(90, 300).to_dict()
    with pytest.raises(ValueError):
        MinuteCounts.from_dict({**data, "version": 99})
    with pytest.raises(ValueError):
        MinuteCounts.from_dict({**data, "hour_slots": 7})


def test_memory_depends_on_the_time_seen_not_on_traffic() -> None:
    quiet, busy, new = MinuteCounts(), MinuteCounts(), MinuteCounts()
    quiet.add(BASE, 1, 1)
    quiet.add(BASE + 4999, 1, 1)
    for minute in range(BASE, BASE + 5000, 7):
        busy.add(minute, 10**6, 10**6 + 3)
    new.add(BASE, 10**6, 10**6)
    assert quiet.nbytes == busy.nbytes < 128 * 1024
    # a new objective holds a few minutes and hours, not the horizon's and the window's:
    # 4 minutes of 2 counts and 2 flags, 2 hours of 4 counts
    assert new.nbytes == 4 * (2 * 8 + 2) + 2 * 4 * 8 < 1024


def test_the_minute_ring_grows_to_the_horizon_and_no_further() -> None:
    counts = MinuteCounts(minute_horizon=MINUTE_HORIZON)
    counts.add(BASE, 1, 2)
    counts.advance(BASE + 15)  # 16 minutes: still the first 16 slots
    assert len(counts.minutes) == 16
    counts.add(BASE + 40, 3, 4)  # 41 minutes since the first: doubles twice, to 64
    assert len(counts.minutes) == len(counts.flags) == 64
    assert counts.sum(BASE, BASE + 41) == (4, 6)
    assert counts.timeslices(BASE, BASE + 41) == (0, 1)  # the minute with a bad event
    counts.advance(BASE + 2 * MINUTE_HORIZON)  # the first minutes left the horizon
    assert len(counts.minutes) == MINUTE_HORIZON


def test_a_quiet_minute_ring_does_not_grow() -> None:
    counts = MinuteCounts(minute_horizon=MINUTE_HORIZON)
    counts.advance(BASE)
    counts.advance(BASE + 1000)  # time passes without data
    counts.add(BASE + 1000, 1, 1)
    assert len(counts.minutes) == FIRST_MINUTE_SLOTS
    assert counts.sum(BASE + 1000 - MINUTE_HORIZON, BASE + 1001) == (1, 1)


def test_the_hour_ring_grows_to_the_window_and_no_further() -> None:
    counts = MinuteCounts.for_window(TimeWindow(duration_s=30 * 86400))
    counts.add(BASE, 1, 2)
    counts.add(BASE + 60 * 40, 3, 4)  # 40 hours later: the ring doubles to 64 hours
    assert len(counts.hours) == 64
    assert counts.sum(BASE, BASE + 60 * 41) == (4, 6)
    counts.advance(BASE + 60 * 24 * 40)  # past the window: every hour of it is kept
    assert len(counts.hours) == counts.hour_slots == 721


def test_sized_for_the_window() -> None:
    rolling = MinuteCounts.for_window(TimeWindow(duration_s=30 * 86400))
    month = MinuteCounts.for_window(TimeWindow(calendar="month"))
    assert (rolling.minute_horizon, rolling.hour_slots) == (MINUTE_HORIZON, 721)
    assert month.hour_slots == 745  # 31 days of hours + the hour an edge rounds into


# --- hypothesis: the rings against a naive per-minute reference ---------------------------------

Op = tuple[str, int, int, int]


def op_lists(advance: int, back: int) -> st.SearchStrategy[list[Op]]:
    """Histories of advances (up to ``advance`` minutes) and adds (up to ``back`` minutes old)."""
    return st.lists(
        st.one_of(
            st.tuples(
                st.just("advance"),
                st.integers(0, 5) | st.integers(0, advance),
                st.just(0),
                st.just(0),
            ),
            st.tuples(st.just("add"), st.integers(-back, 3), st.integers(0, 5), st.integers(0, 5)),
        ),
        max_size=120,
    )


ops = op_lists(900, 700)


def reference_cases(
    horizon: int, extra: tuple[int, int], advance: int, back: int, reach: int
) -> dict[str, st.SearchStrategy[Any]]:
    """Strategies for :func:`check_against_reference` at one time scale."""
    return {
        "minute_horizon": st.integers(1, horizon),
        "extra_span": st.integers(*extra),
        "start": st.integers(BASE, BASE + 1440),
        "history": op_lists(advance, back),
        "ranges": st.lists(
            st.tuples(st.integers(-reach, 5), st.integers(0, reach)), min_size=1, max_size=8
        ),
    }


class Reference:
    """Every accepted add per minute, and what the minute ring saw of each minute."""

    def __init__(self, counts: MinuteCounts) -> None:
        self.counts = counts
        self.events: dict[int, tuple[int, int]] = {}
        self.in_ring: dict[int, tuple[int, int]] = {}

    def apply(self, op: Op) -> None:
        kind, offset, good, extra = op
        head = self.counts.head_minute
        assert head is not None
        if kind == "advance":
            self.counts.advance(head + offset)
            return
        minute, total = head + offset, good + extra
        new_head = max(head, minute)
        in_ring = minute > new_head - self.counts.minute_horizon
        if self.counts.add(minute, good, total):
            _bump(self.events, minute, good, total)
            if in_ring:
                _bump(self.in_ring, minute, good, total)

    def edges(self, start: int, stop: int, end: int) -> range:
        """The minutes ``sum`` promises to cover: old edges rounded down to the hour, clamped."""
        horizon = self.counts.horizon_minute

        def rounded(minute: int) -> int:
            return minute if minute >= horizon else minute - minute % 60

        return range(max(rounded(start), self.counts.oldest_minute), min(rounded(stop), end))

    def sum(self, start: int, stop: int) -> tuple[int, int]:
        head = self.counts.head_minute
        assert head is not None
        found = [self.events.get(m, (0, 0)) for m in self.edges(start, stop, head + 1)]
        return sum(g for g, _ in found), sum(t for _, t in found)

    def timeslices(self, start: int, stop: int) -> tuple[int, int]:
        head = self.counts.head_minute
        assert head is not None
        seen = [self.in_ring[m] for m in self.edges(start, stop, head) if m in self.in_ring]
        return sum(ninety_percent(g, t) for g, t in seen), len(seen)


def _bump(table: dict[int, tuple[int, int]], minute: int, good: int, total: int) -> None:
    old_good, old_total = table.get(minute, (0, 0))
    table[minute] = (old_good + good, old_total + total)


@settings(max_examples=400, deadline=None)
@given(**reference_cases(150, (0, 300), advance=900, back=700, reach=900))
def test_sums_and_timeslices_match_a_naive_reference(**case: Any) -> None:
    check_against_reference(**case)


@settings(max_examples=300, deadline=None)
@given(**reference_cases(1200, (900, 4000), advance=3000, back=4000, reach=5000))
def test_a_growing_hour_ring_matches_a_naive_reference(**case: Any) -> None:
    """Spans longer than the new hour ring (16 hours): it grows while the reference holds all."""
    check_against_reference(**case)


def check_against_reference(
    minute_horizon: int,
    extra_span: int,
    start: int,
    history: list[Op],
    ranges: list[tuple[int, int]],
) -> None:
    span = minute_horizon + extra_span
    counts = MinuteCounts(minute_horizon, span, ninety_percent)
    counts.advance(start)
    reference = Reference(counts)
    for op in history:
        reference.apply(op)
    head = counts.head_minute
    assert head is not None
    assert counts.oldest_minute <= head - span + 1  # at least span minutes are kept
    for offset, length in ranges:
        first = head + offset
        assert counts.sum(first, first + length) == reference.sum(first, first + length)
        assert counts.timeslices(first, first + length) == reference.timeslices(
            first, first + length
        )
    again = MinuteCounts.from_dict(json.loads(json.dumps(counts.to_dict())), ninety_percent)
    for offset, length in ranges:  # a restored ring (whole) answers as the grown one did
        first = head + offset
        assert again.sum(first, first + length) == counts.sum(first, first + length)


@settings(max_examples=100, deadline=None)
@given(history=ops, start=st.integers(BASE, BASE + 1440))
def test_ranges_inside_the_minute_horizon_are_exact(history: list[Op], start: int) -> None:
    counts = MinuteCounts(100, 400)
    counts.advance(start)
    reference = Reference(counts)
    for op in history:
        reference.apply(op)
    head = counts.head_minute
    assert head is not None
    for first in range(head - 99, head + 1, 7):
        expected = [reference.events.get(m, (0, 0)) for m in range(first, head + 1)]
        assert counts.sum(first, head + 1) == (
            sum(g for g, _ in expected),
            sum(t for _, t in expected),
        )


@settings(max_examples=100, deadline=None)
@given(history=ops, start=st.integers(BASE, BASE + 1440))
def test_any_state_round_trips(history: list[Op], start: int) -> None:
    counts = MinuteCounts(50, 200, ninety_percent)
    counts.advance(start)
    reference = Reference(counts)
    for op in history:
        reference.apply(op)
    again = MinuteCounts.from_dict(json.loads(json.dumps(counts.to_dict())), ninety_percent)
    assert again.to_dict() == counts.to_dict()


# --- calendar windows ---------------------------------------------------------------------------


def utc_ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


@pytest.mark.parametrize(
    ("tz", "calendar", "now", "start"),
    [
        # Berlin: CET (+1) → CEST (+2) on 2024-03-31 at 01:00Z, back on 2024-10-27 at 01:00Z
        ("Europe/Berlin", "month", "2024-03-31T12:00", "2024-02-29T23:00"),
        ("Europe/Berlin", "month", "2024-04-15T10:00", "2024-03-31T22:00"),
        ("Europe/Berlin", "week", "2024-03-31T01:30", "2024-03-24T23:00"),
        ("Europe/Berlin", "week", "2024-03-31T22:30", "2024-03-31T22:00"),  # Monday 00:30 local
        ("Europe/Berlin", "week", "2024-10-27T01:30", "2024-10-20T22:00"),  # 02:30 the 2nd time
        ("Europe/Berlin", "week", "2024-10-28T00:00", "2024-10-27T23:00"),
        ("Europe/Berlin", "month", "2024-10-31T22:30", "2024-09-30T22:00"),  # Oct 31 23:30
        ("Europe/Berlin", "month", "2024-10-31T23:30", "2024-10-31T23:00"),  # Nov 1 00:30
        # New York: EST (−5) → EDT (−4) on 2024-03-10 at 07:00Z, back on 2024-11-03 at 06:00Z
        ("America/New_York", "month", "2024-03-20T12:00", "2024-03-01T05:00"),
        ("America/New_York", "month", "2024-04-01T03:59", "2024-03-01T05:00"),
        ("America/New_York", "month", "2024-04-01T04:00", "2024-04-01T04:00"),
        ("America/New_York", "week", "2024-03-10T16:00", "2024-03-04T05:00"),
        ("America/New_York", "week", "2024-03-11T04:30", "2024-03-11T04:00"),
        ("America/New_York", "week", "2024-11-04T04:59", "2024-10-28T04:00"),
        ("America/New_York", "week", "2024-11-04T05:00", "2024-11-04T05:00"),
        ("America/New_York", "month", "2024-11-10T12:00", "2024-11-01T04:00"),
    ],
)
def test_calendar_start_across_dst(tz: str, calendar: str, now: str, start: str) -> None:
    assert calendar_start(utc_ns(now), calendar, tz) == utc_ns(start)


@settings(max_examples=300, deadline=None)
@given(
    now_s=st.integers(1_577_836_800, 1_893_456_000),  # 2020 … 2030
    tz=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
    calendar=st.sampled_from(["month", "week"]),
)
def test_calendar_start_is_the_latest_local_midnight_opening_a_period(
    now_s: int, tz: str, calendar: str
) -> None:
    now_ns = now_s * NS + 123
    start_ns = calendar_start(now_ns, calendar, tz)
    local = datetime.fromtimestamp(start_ns // NS, ZoneInfo(tz))
    assert start_ns <= now_ns
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert local.day == 1 if calendar == "month" else local.weekday() == 0
    following = calendar_start(
        start_ns + (32 if calendar == "month" else 8) * 86400 * NS, calendar, tz
    )
    assert following > now_ns


def test_an_unknown_calendar_is_refused() -> None:
    with pytest.raises(ValueError):
        calendar_start(0, "year", "UTC")


def test_window_ranges() -> None:
    rolling = TimeWindow(duration_s=30 * 86400)
    assert window_range(rolling, BASE) == (BASE + 1 - 43200, BASE + 1)
    month = TimeWindow(calendar="month", timezone="Europe/Berlin")
    now_minute = utc_ns("2024-04-15T10:00") // (60 * NS)
    assert window_range(month, now_minute) == (
        utc_ns("2024-03-31T22:00") // (60 * NS),
        now_minute + 1,
    )


def test_nominal_windows() -> None:
    assert nominal_window_s(TimeWindow(calendar="month")) == 30 * 86400
    assert nominal_window_s(TimeWindow(calendar="week")) == 7 * 86400
    assert nominal_window_s(TimeWindow(duration_s=28 * 86400)) == 28 * 86400
