"""Suggested latency objectives per route from the route's own baseline (``defaults.routes``):
a route slow by design gets thresholds it meets, a route that fits the defaults keeps them,
only a change from the baseline burns, and the baselines survive a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from otel_perf.component import Context
from otel_perf.findings import Finding
from otel_perf.model import Resource, SpanBatch, SpanKind, SpanRecord
from otel_perf.processors.slo.baseline import nice_ceil, suggested_threshold
from otel_perf.processors.slo.config import SLOConfig
from otel_perf.processors.slo.processor import SLOProcessor
from otel_perf.series import RED, SeriesHub, SeriesInterval, SeriesKey
from otel_perf.store import Store

S = 1_000_000_000
T0 = 1_700_000_000 // 60 * 60 * S
ROUTES = {("pricing", "POST /quote"): 0.400, ("shop", "GET /cart"): 0.020}  # median seconds
SETTINGS = {"defaults": {"routes": {"enabled": True, "learn": "10m", "min_requests": 50}}}


def test_nice_ceil_and_the_threshold_rule() -> None:
    assert [nice_ceil(x) for x in (0.001, 0.0011, 0.3, 0.51, 1.2, 7.0)] == [
        0.001,
        0.002,
        0.5,
        1.0,
        2.0,
        10.0,
    ]
    assert suggested_threshold(0.15, 0.12, 1.5) == 0.15  # the route meets the default
    assert suggested_threshold(0.15, 0.41, 1.5) == 1.0  # 615 ms rounds up to 1 s


class Traffic:
    """Each 10 s: ten requests per route, as spans (the SLIs) and as one span-metrics
    interval (what the baselines learn from), durations lognormal around each median."""

    def __init__(self, slo: SLOProcessor, hub: SeriesHub, now_ns: int = T0) -> None:
        self.slo, self.hub, self.now = slo, hub, now_ns
        self.rng = np.random.default_rng(3)
        self.findings: list[Finding] = []

    def run(self, minutes: int, slower: float = 1.0) -> None:
        for _ in range(minutes * 6):
            spans, values = [], {}
            for (service, route), median in ROUTES.items():
                factor = slower if service == "pricing" else 1.0
                durations = median * factor * self.rng.lognormal(0, 0.2, 10)
                red = RED(calls=10)
                red.duration_s.record_many(durations)
                values[SeriesKey(service, route, SpanKind.SERVER)] = red
                spans += [self.span(service, route, i, d) for i, d in enumerate(durations)]
            self.slo.consume_spans(SpanBatch(spans))
            self.hub.publish(SeriesInterval(self.now, self.now + 10 * S, 10, values))
            self.now += 10 * S
            self.findings += self.slo.tick(self.now)

    def span(self, service: str, route: str, i: int, duration_s: float) -> SpanRecord:
        end = self.now + i * S
        return SpanRecord(
            end.to_bytes(16, "big"),
            b"s" * 8,
            b"",
            Resource({"service.name": service}),
            "t",
            route,
            SpanKind.SERVER,
            end - int(duration_s * 1e9),
            end,
            0,
            "",
            {},
        )


def start(path: Path) -> tuple[SLOProcessor, SeriesHub]:
    hub = SeriesHub()
    slo = SLOProcessor(Context("slo", Store(path), hub), SLOConfig.model_validate(SETTINGS))
    slo.start()
    return slo, hub


def thresholds(slo: SLOProcessor) -> dict[str, float]:
    return {v["name"]: v["threshold_ms"] for v in slo.snapshot()["objectives"] if v["operation"]}


def test_a_route_slow_by_design_starts_from_its_baseline_and_only_a_change_burns(
    tmp_path: Path,
) -> None:
    slo, hub = start(tmp_path / "s.db")
    traffic = Traffic(slo, hub)
    traffic.run(minutes=9)
    assert thresholds(slo) == {}  # still learning: no latency suggestion yet
    assert sorted(v["name"] for v in slo.snapshot()["objectives"]) == [
        "pricing",
        "shop",
    ]  # availability per service (suggested) from the first request
    traffic.run(minutes=2)
    learned = thresholds(slo)
    # GET /cart (20 ms) meets the defaults and keeps them; POST /quote (400 ms) does not:
    # its p50 and p95 come from its baseline × 1.5, rounded up
    assert learned["shop GET /cart-latency-p50"] == 50
    assert learned["shop GET /cart-latency-p95"] == 150
    assert learned["shop GET /cart-latency-p99"] == 200
    assert learned["pricing POST /quote-latency-p50"] == 1000  # 400 ms × 1.5 → 1 s
    assert learned["pricing POST /quote-latency-p95"] == 1000
    view = next(v for v in slo.snapshot()["objectives"] if v["name"].startswith("pricing POST"))
    assert view["suggested"] and "from the baseline" in view["description"]

    traffic.run(minutes=30)  # as it has always been: nothing burns
    latency = [f for f in traffic.findings if "latency" in f.subject]
    assert latency == []
    traffic.run(minutes=15, slower=3.0)  # 1.2 s: slower than its own baseline
    burns = [f for f in traffic.findings if f.kind == "burn_rate_alert"]
    assert burns and {f.service for f in burns} == {"pricing"}
    assert all(f.severity == "warning" and f.attributes["suggested"] for f in burns)

    slo.flush(traffic.now)
    slo.context.store.close()
    again, _ = start(tmp_path / "s.db")
    assert thresholds(again) == learned  # the baselines survive a restart


def test_routes_beyond_the_bound_are_counted_not_learned(tmp_path: Path) -> None:
    hub = SeriesHub()
    settings = {"defaults": {"routes": {"enabled": True, "learn": "1m", "max_routes": 1}}}
    slo = SLOProcessor(
        Context("slo", Store(tmp_path / "s.db"), hub), SLOConfig.model_validate(settings)
    )
    slo.start()
    Traffic(slo, hub).run(minutes=20)
    assert slo.snapshot()["untracked_routes"] > 0
    assert len({name.rsplit("-latency", 1)[0] for name in thresholds(slo)}) == 1


@pytest.mark.parametrize("value", [0.5, 0])
def test_bad_route_settings_are_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="headroom|max_routes"):
        SLOConfig.model_validate(
            {"defaults": {"routes": {"headroom": value, "max_routes": int(value)}}}
        )
