"""The slo processor on event time: the Workbook's alerting behaviour, budgets a person
can check by hand, SLIs from spans and from histograms agreeing, and restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from otel_perf.component import Context
from otel_perf.findings import Finding
from otel_perf.model import (
    ExponentialBuckets,
    MetricBatch,
    MetricPoint,
    MetricType,
    Resource,
    SpanBatch,
    SpanKind,
    SpanRecord,
    StatusCode,
)
from otel_perf.processors.slo.config import SLOConfig
from otel_perf.processors.slo.processor import SLOProcessor
from otel_perf.recommend.health import HealthInputs
from otel_perf.recommend.health import evaluate as evaluate_health
from otel_perf.store import Store

S = 1_000_000_000
MIN = 60 * S
T0 = 1_700_000_000 // 60 * 60 * S  # a whole minute
SHOP = Resource({"service.name": "shop"})


def request(end_ns: int, error: bool = False, duration_ms: float = 20.0) -> SpanRecord:
    return SpanRecord(
        b"t" * 16,
        b"s" * 8,
        b"",
        SHOP,
        "t",
        "GET /cart",
        SpanKind.SERVER,
        end_ns - int(duration_ms * 1e6),
        end_ns,
        StatusCode.ERROR if error else 0,
        "",
        {"http.route": "/cart"},
    )


def processor(store: Store, **settings: Any) -> SLOProcessor:
    settings.setdefault("objectives", [{"name": "shop", "service": "shop", "availability": 0.999}])
    settings.setdefault("defaults", {"enabled": False})
    slo = SLOProcessor(Context("slo", store), SLOConfig.model_validate(settings))
    slo.start()
    return slo


class Run:
    """Feeds per-minute traffic and ticks every 10 s of event time, collecting findings."""

    def __init__(self, slo: SLOProcessor) -> None:
        self.slo = slo
        self.findings: list[Finding] = []
        self.now = T0

    def minutes(self, count: int, per_minute: int, errors: int | float = 0) -> None:
        for _ in range(count):
            self.minute(per_minute, errors)

    def minute(self, per_minute: int, errors: int | float) -> None:
        bad = errors if isinstance(errors, int) else round(per_minute * errors)
        spacing = MIN // per_minute
        failing = {round((k + 0.5) * per_minute / bad) for k in range(bad)} if bad else set()
        times = [self.now + spacing // 2 + i * spacing for i in range(per_minute)]
        for step in range(6):  # six 10 s slices, a tick after each
            lo, hi = self.now + step * 10 * S, self.now + (step + 1) * 10 * S
            spans = [
                request(t, error=i in failing or bad >= per_minute)
                for i, t in enumerate(times)
                if lo <= t < hi
            ]
            self.slo.consume_spans(SpanBatch(spans))
            self.findings += self.slo.tick(hi)
        self.now += MIN

    def alerts(self, alert: str, status: str = "firing") -> list[Finding]:
        return [
            f
            for f in self.findings
            if f.kind == "burn_rate_alert"
            and f.attributes["alert"] == alert
            and f.attributes["status"] == status
        ]


def test_full_outage_pages_within_about_a_minute(tmp_path: Path) -> None:
    run = Run(processor(Store(tmp_path / "s.db")))
    run.minutes(120, per_minute=60)  # two good hours
    outage_start = run.now
    run.minutes(2, per_minute=60, errors=60)
    (page, *_) = run.alerts("page")
    assert page.severity == "critical" and page.state == "open"
    assert page.time_ns - outage_start <= 60 * S  # the Workbook's ~52 s, at a 10 s tick
    firing = [r for r in page.attributes["burn_rates"] if r["firing"]]
    assert firing and all(r["long"]["burn_rate"] >= r["threshold"] for r in firing)


def test_twice_the_budget_rate_opens_a_ticket_and_never_pages(tmp_path: Path) -> None:
    run = Run(processor(Store(tmp_path / "s.db")))
    run.minutes(400, per_minute=500, errors=0.002)  # error ratio 0.2 % = burn rate 2
    assert run.alerts("ticket") and not run.alerts("page")


def test_half_the_budget_rate_raises_nothing(tmp_path: Path) -> None:
    run = Run(processor(Store(tmp_path / "s.db")))
    run.minutes(400, per_minute=500, errors=0.0005)
    assert not [f for f in run.findings if f.kind in ("burn_rate_alert", "slo_violation")]


def test_one_failure_in_five_requests_at_night_does_not_page_with_the_guard(
    tmp_path: Path,
) -> None:
    guarded = Run(processor(Store(tmp_path / "a.db"), min_events=10))
    guarded.minutes(5, per_minute=1, errors=0)
    guarded.minute(1, errors=1)
    assert not guarded.alerts("page")
    unguarded = Run(processor(Store(tmp_path / "b.db"), min_events=0))
    unguarded.minutes(5, per_minute=1, errors=0)
    unguarded.minute(1, errors=1)
    assert unguarded.alerts("page")


def test_alerts_resolve_after_recovery(tmp_path: Path) -> None:
    run = Run(processor(Store(tmp_path / "s.db")))
    run.minutes(120, per_minute=60)
    run.minutes(3, per_minute=60, errors=60)
    run.minutes(90, per_minute=60)
    (fired,) = run.alerts("page")
    (resolved,) = run.alerts("page", "resolved")
    assert resolved.state == "resolved" and resolved.time_ns > fired.time_ns


def test_budget_numbers_match_a_hand_computation(tmp_path: Path) -> None:
    slo = processor(Store(tmp_path / "s.db"))
    run = Run(slo)
    run.minutes(10, per_minute=100, errors=0)
    run.minutes(2, per_minute=100, errors=3)  # 6 bad of 1,200
    (view,) = slo.snapshot()["objectives"]
    budget = view["budget"]
    assert (budget["good"], budget["total"]) == (1194, 1200)
    # budget = 0.001 x 1,200 = 1.2 bad events allowed; 6 spent: remaining = 1 - 6 / 1.2 = -4
    assert budget["error_budget_remaining"] == pytest.approx(1 - 6 / 1.2)
    assert budget["exhausted"] is True
    assert budget["sli"] == pytest.approx(1194 / 1200)
    assert "1 − 6 / (0.001 × 1 200)" in budget["formulas"]["error_budget_remaining"]
    violations = [f for f in run.findings if f.kind == "slo_violation"]
    assert violations and violations[0].attributes["exhausted"] is True


def _explicit(durations_ms: np.ndarray, bounds: tuple[float, ...], time_ns: int) -> MetricPoint:
    counts = np.bincount(
        np.searchsorted(bounds, durations_ms, side="left"), minlength=len(bounds) + 1
    )
    return MetricPoint(
        SHOP,
        "http.server.request.duration",
        "ms",
        MetricType.HISTOGRAM,
        {"http.route": "/cart"},
        time_ns,
        temporality=1,
        count=len(durations_ms),
        sum=float(durations_ms.sum()),
        min=float(durations_ms.min()),
        max=float(durations_ms.max()),
        bounds=bounds,
        bucket_counts=tuple(int(c) for c in counts),
    )


def _exponential(durations_s: np.ndarray, time_ns: int) -> MetricPoint:
    from otel_perf.histogram import ExponentialHistogram

    hist = ExponentialHistogram()
    hist.record_many(durations_s)
    b = hist.otlp_buckets()
    return MetricPoint(
        SHOP,
        "latency.exp",
        "s",
        MetricType.EXPONENTIAL_HISTOGRAM,
        {},
        time_ns,
        temporality=1,
        count=b.count,
        sum=b.sum,
        min=b.min,
        max=b.max,
        scale=b.scale,
        zero_count=b.zero_count,
        positive=ExponentialBuckets(b.positive_offset, b.positive_counts),
        negative=ExponentialBuckets(b.negative_offset, b.negative_counts),
    )


def test_latency_sli_from_spans_explicit_and_exponential_histograms_agree(
    tmp_path: Path,
) -> None:
    objectives = [
        {"name": "spans", "service": "shop", "latency": {"p95": "150ms"}},
        {
            "name": "explicit",
            "service": "shop",
            "latency": {"p95": "150ms"},
            "metric": "http.server.request.duration",
        },
        {
            "name": "exponential",
            "service": "shop",
            "latency": {"p95": "150ms"},
            "metric": "latency.exp",
        },
    ]
    slo = processor(Store(tmp_path / "s.db"), objectives=objectives)
    rng = np.random.default_rng(11)
    bounds = (5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 150.0, 250.0, 500.0, 1000.0)  # ms
    for minute in range(5):
        durations = rng.lognormal(np.log(60), 0.7, 400)  # ms, about 9 % over 150 ms
        end = T0 + minute * MIN + 30 * S
        slo.consume_spans(SpanBatch([request(end, duration_ms=float(d)) for d in durations]))
        slo.consume_metrics(
            MetricBatch([_explicit(durations, bounds, end), _exponential(durations / 1000, end)])
        )
    slo.tick(T0 + 6 * MIN)
    slis = {v["name"]: v["budget"]["sli"] for v in slo.snapshot()["objectives"]}
    exact = slis["spans-latency-p95"]
    assert slis["explicit-latency-p95"] == pytest.approx(exact, abs=0.002)  # 150 ms is a bound
    assert slis["exponential-latency-p95"] == pytest.approx(exact, abs=0.005)


def test_restart_keeps_the_budget(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    slo = processor(store)
    run = Run(slo)
    run.minutes(30, per_minute=100, errors=0)
    run.minutes(3, per_minute=100, errors=1)
    slo.flush(run.now)
    before = slo.snapshot()["objectives"][0]["budget"]["error_budget_remaining"]
    store.close()  # as good as kill -9 after the last flush: nothing else is written
    again = processor(Store(tmp_path / "s.db"))
    again.tick(run.now)
    after = again.snapshot()["objectives"][0]["budget"]["error_budget_remaining"]
    assert after == pytest.approx(before)


def test_damaged_or_older_saved_documents_start_empty_and_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An objective whose saved rings do not fit, one saved by another format version and
    a damaged list of default services: each starts empty, counted; one warning."""
    store = Store(tmp_path / "s.db")
    slo = processor(store)
    run = Run(slo)
    run.minutes(3, per_minute=100, errors=0)
    slo.flush(run.now)
    saved = store.load_state("slo", "shop")
    assert saved is not None and saved["counts"]["version"] == 1
    store.save_state("slo", "shop", {**saved, "counts": {**saved["counts"], "hours": "x"}}, 1)
    store.save_state("slo", "#default-services", {"not": "a list"}, 1)
    store.close()
    again = processor(Store(tmp_path / "s.db"), defaults={"enabled": True})
    assert again.snapshot()["state_discarded"] == 2
    again.tick(run.now)
    (view,) = again.snapshot()["objectives"]
    assert view["budget"]["total"] == 0  # started empty
    warnings = [r for r in caplog.records if "state_discarded" in r.getMessage()]
    assert len(warnings) == 1

    store = Store(tmp_path / "s.db")
    store.save_state("slo", "shop", {**saved, "counts": {**saved["counts"], "version": 2}}, 2)
    store.save_state("slo", "#default-services", [], 2)
    store.close()
    older = processor(Store(tmp_path / "s.db"))
    assert older.snapshot()["state_discarded"] == 1


def test_zero_config_services_get_default_objectives(tmp_path: Path) -> None:
    slo = processor(Store(tmp_path / "s.db"), objectives=[], defaults={"enabled": True})
    slo.consume_spans(SpanBatch([request(T0 + S)]))
    slo.tick(T0 + MIN)
    names = sorted(v["name"] for v in slo.snapshot()["objectives"])
    assert names == [
        "shop",
        "shop-latency-p50",
        "shop-latency-p95",
        "shop-latency-p99",
    ] or names == ["shop-availability", "shop-latency-p50", "shop-latency-p95", "shop-latency-p99"]


def test_ratio_timeslices_is_the_mean_of_the_minutes_ratios(tmp_path: Path) -> None:
    objectives = [
        {"name": "shop", "service": "shop", "availability": 0.99, "budgeting": "RatioTimeslices"}
    ]
    slo = processor(Store(tmp_path / "s.db"), objectives=objectives)
    run = Run(slo)
    run.minute(100, errors=10)  # ratio 0.90
    run.minute(10, errors=0)  # ratio 1.00
    run.minute(50, errors=5)  # ratio 0.90
    run.minute(1, errors=0)  # ratio 1.00 (closed by the run's last tick, at the minute's end)
    (view,) = slo.snapshot()["objectives"]
    budget = view["budget"]
    assert budget["sli"] == pytest.approx((0.9 + 1.0 + 0.9 + 1.0) / 4)  # not 146 / 161 events
    assert budget["total"] == 4 and budget["unit"] == "minutes"


FIRST_SPAN_NS = T0 + S // 2  # Run puts a minute's first request half a spacing in


def health_of(slo: SLOProcessor) -> str:
    inputs = HealthInputs(snapshots={"slo": {slo.id: slo.snapshot()}}, telemetry={})
    return evaluate_health(inputs).status


def test_zero_config_on_a_fresh_start_never_pages_and_warns_after_its_short_window(
    tmp_path: Path,
) -> None:
    slo = processor(Store(tmp_path / "s.db"), objectives=[], defaults={"enabled": True})
    run = Run(slo)
    statuses = []
    for _ in range(12):  # every request fails, from the very first one
        run.minute(60, errors=60)
        statuses.append(health_of(slo))
    burns = [f for f in run.findings if f.kind == "burn_rate_alert"]
    assert burns, "a suggested objective is tracked and warns"
    assert all(f.severity != "critical" for f in run.findings)
    assert all(f.attributes["suggested"] and not f.attributes["pages"] for f in burns)
    assert "suggested objective: warns, never pages" in burns[0].summary
    # nothing at all within the first short window (5 min): 55 events in 8 s say nothing
    first = min(f.time_ns for f in run.findings if f.kind in ("burn_rate_alert", "slo_violation"))
    assert first - FIRST_SPAN_NS >= 5 * MIN
    assert "critical" not in statuses and statuses[-1] == "degraded"
    views = slo.snapshot()["objectives"]
    assert views and all(v["suggested"] for v in views)
    gauges = {attrs["slo.origin"] for _, _, attrs in slo.gauges()}
    assert gauges == {"suggested"}


def test_a_declared_objective_pages_on_sustained_burn_once_its_short_window_is_observed(
    tmp_path: Path,
) -> None:
    slo = processor(Store(tmp_path / "s.db"))  # declared; min_events 10
    run = Run(slo)
    run.minutes(4, per_minute=60, errors=60)
    assert not run.alerts("page")  # burning 1000× for 4 minutes, but only 4 minutes watched
    run.minutes(4, per_minute=60, errors=60)
    (page,) = run.alerts("page")
    assert page.severity == "critical" and page.attributes["pages"] is True
    assert page.attributes["suggested"] is False
    # the 1 h / 5 min rule: five minutes of observation, at the next 10 s tick
    assert 5 * MIN <= page.time_ns - FIRST_SPAN_NS <= 5 * MIN + 10 * S
    assert health_of(slo) == "critical"
    rules = page.attributes["burn_rates"]
    assert [r["observed"] for r in rules] == [True, False]  # 6 h / 30 min not watched yet


def test_after_a_gap_the_windows_are_observed_again_and_a_firing_page_holds(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.db")
    slo = processor(store)
    run = Run(slo)
    run.minutes(30, per_minute=60)
    run.minutes(3, per_minute=60, errors=60)
    assert run.alerts("page")
    slo.flush(run.now)
    store.close()  # kill -9 after the last flush
    # back 20 minutes later (nobody watched in between); requests fail again from the start
    again = Run(processor(Store(tmp_path / "s.db")))
    again.now = run.now + 20 * MIN
    again.minutes(8, per_minute=60, errors=60)
    # the page restored as firing holds through the first short window (neither a resolve
    # on a few seconds of data nor a second page) and goes on firing after it
    assert not [f for f in again.findings if f.kind == "burn_rate_alert"]
    (view,) = again.slo.snapshot()["objectives"]
    assert view["alerts"]["page"]["firing"] and view["observed_s"] >= 5 * 60


def test_a_restart_after_a_long_gap_resolves_a_stale_page_once_observed(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    slo = processor(store)
    run = Run(slo)
    run.minutes(30, per_minute=60)
    run.minutes(3, per_minute=60, errors=60)
    slo.flush(run.now)
    store.close()
    again = Run(processor(Store(tmp_path / "s.db")))
    again.now = run.now + 3 * 60 * MIN  # three hours later, healthy traffic
    again.minutes(4, per_minute=60)
    assert not again.alerts("page", "resolved")  # four minutes watched: not yet judged
    again.minutes(2, per_minute=60)
    (resolved,) = again.alerts("page", "resolved")
    assert 5 * MIN <= resolved.time_ns - again.slo.states["shop"].observation.since_ns
