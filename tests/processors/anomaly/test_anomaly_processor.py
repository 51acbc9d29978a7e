"""The anomaly processor: series coverage, episodes (one finding to open, one to
resolve), direction, bounds, persistence."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from otel_perf.components import Context
from otel_perf.histogram import ExponentialHistogram
from otel_perf.model import MetricBatch, MetricPoint, MetricType, Resource
from otel_perf.processors.anomaly.config import AnomalyConfig
from otel_perf.processors.anomaly.processor import AnomalyProcessor
from otel_perf.series import RED, SeriesHub, SeriesInterval, SeriesKey
from otel_perf.store import Store

S = 1_000_000_000
T0 = 1_700_000_000 * S
WORKER = Resource({"service.name": "worker"})


def gauge(i: int, value: float, name: str = "queue.depth") -> MetricPoint:
    return MetricPoint(WORKER, name, "", MetricType.GAUGE, {}, T0 + i * 10 * S, value=value)


def make(tmp_path: Path, hub: SeriesHub | None = None, **settings: Any) -> AnomalyProcessor:
    settings.setdefault("warm_up", 30)
    processor = AnomalyProcessor(
        Context("anomaly", Store(tmp_path / "s.db"), hub or SeriesHub()),
        AnomalyConfig.model_validate(settings),
    )
    processor.start()
    return processor


def feed(processor: AnomalyProcessor, values: list[float], name: str = "queue.depth") -> list[Any]:
    found = []
    for i, value in enumerate(values):
        processor.consume_metrics(MetricBatch([gauge(i, value, name)]))
        found += processor.tick(T0 + i * 10 * S)
    return found


def noisy(n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [100 + rng.gauss(0, 2) for _ in range(n)]


def test_a_spike_opens_one_episode_and_resolves_it(tmp_path: Path) -> None:
    processor = make(tmp_path)
    found = feed(processor, noisy(200) + [300.0, 310.0, 305.0] + noisy(40, seed=2))
    states = [f.state for f in found]
    assert states == ["open", "resolved"], found
    opened = found[0]
    assert opened.kind == "anomaly_detected" and opened.service == "worker"
    assert opened.subject == "metric:queue.depth{worker}"
    assert opened.attributes["value"] == 300.0 and opened.attributes["direction"] == "up"
    assert opened.attributes["expected_high"] < 300.0


def test_clean_series_raises_nothing_after_warm_up(tmp_path: Path) -> None:
    assert feed(make(tmp_path), noisy(400)) == []


def test_direction_filter(tmp_path: Path) -> None:
    processor = make(tmp_path, rules=[{"match": "metric:queue*", "direction": "up"}])
    assert feed(processor, noisy(200) + [0.0, 0.0, 1.0] + noisy(40, seed=3)) == []


def test_include_exclude_and_the_series_cap(tmp_path: Path) -> None:
    processor = make(tmp_path, exclude=["metric:ignored*"], max_series=2)
    for name in ("ignored.gauge", "a", "b", "c"):
        processor.consume_metrics(MetricBatch([gauge(0, 1.0, name)]))
    assert processor.snapshot()["series"] == 2
    assert processor.untracked == 1


def test_span_metrics_series_from_the_hub(tmp_path: Path) -> None:
    hub = SeriesHub()
    processor = make(tmp_path, hub=hub)
    key = SeriesKey("shop", "GET /cart", 2)
    rng = random.Random(4)
    found = []
    for i in range(120):
        hist = ExponentialHistogram()
        slow = 1.0 if 100 <= i < 103 else 0.0
        hist.record_many([0.020 + rng.random() * 0.002 + slow for _ in range(50)])
        hub.publish(
            SeriesInterval(T0 + i * 10 * S, T0 + (i + 1) * 10 * S, 10, {key: RED(50, 0, hist)})
        )
        found += processor.tick(T0 + (i + 1) * 10 * S)
    opened = [f for f in found if f.state == "open"]
    assert [f.subject for f in opened] == ["span.p95_ms{shop GET /cart}"]
    assert processor.snapshot()["series"] == 3  # rate, error_ratio, p95_ms


def test_state_survives_a_restart(tmp_path: Path) -> None:
    first = make(tmp_path, save_interval=1)
    feed(first, noisy(100))
    first.flush(T0 + 100 * 10 * S)
    again = make(tmp_path)
    again.consume_metrics(MetricBatch([gauge(100, 101.0)]))
    (view,) = again.snapshot()["top_scores"]
    assert view["points"] == 101
