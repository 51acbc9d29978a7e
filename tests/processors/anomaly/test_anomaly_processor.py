"""The anomaly processor: series coverage, episodes (one finding to open, one to
resolve), direction, bounds, persistence."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from otel_perf.component import Context
from otel_perf.histogram import ExponentialHistogram
from otel_perf.model import MetricBatch, MetricPoint, MetricType, Resource
from otel_perf.processors.anomaly.config import AnomalyConfig
from otel_perf.processors.anomaly.detector import DEFAULT_THRESHOLD, Detector, DetectorSettings
from otel_perf.processors.anomaly.processor import AnomalyProcessor
from otel_perf.processors.anomaly.series import SeriesState, settings_for
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


def test_series_under_the_same_rule_share_one_settings(tmp_path: Path) -> None:
    processor = make(tmp_path, rules=[{"match": "metric:q*", "direction": "up"}])
    for name in ("queue.depth", "queue.age", "heap", "threads"):
        processor.consume_metrics(MetricBatch([gauge(0, 1.0, name)]))
    series = processor.series
    assert series["metric:queue.depth{worker}"].settings.direction == "up"
    assert (
        series["metric:queue.depth{worker}"].settings is series["metric:queue.age{worker}"].settings
    )
    assert series["metric:heap{worker}"].settings is series["metric:threads{worker}"].settings
    assert series["metric:heap{worker}"].settings != series["metric:queue.age{worker}"].settings


def test_the_error_ratio_is_judged_with_the_calls_it_is_over(tmp_path: Path) -> None:
    hub = SeriesHub()
    processor = make(tmp_path, hub=hub, span_signals=["error_ratio"], warm_up=200)
    key = SeriesKey("shop", "GET /cart", 2)
    rng = random.Random(7)
    found = []

    def publish(i: int, calls: int, errors: int) -> None:
        hist = ExponentialHistogram()
        hist.record_many([0.02] * calls)
        hub.publish(
            SeriesInterval(
                T0 + i * 60 * S, T0 + (i + 1) * 60 * S, 60, {key: RED(calls, errors, hist)}
            )
        )
        found.extend(processor.tick(T0 + (i + 1) * 60 * S))

    for i in range(400):
        calls = rng.randint(900, 1100)
        publish(i, calls, sum(rng.random() < 0.004 for _ in range(calls)))
    publish(400, 3, 1)  # 33 % over three calls at night
    assert found == []
    publish(401, 300, 30)  # 10 % over three hundred
    assert [(f.subject, f.state) for f in found] == [("span.error_ratio{shop GET /cart}", "open")]
    attributes = found[0].attributes
    assert attributes["model"] == "counts"  # judged by its binomial tail at the learnt rate
    assert 0.0 <= attributes["expected_low"] < 0.004 < attributes["expected_high"] < 0.1


def test_robust_settings_judge_io_and_cpu_series_by_default_and_a_rule_can_turn_them_on() -> None:
    default = AnomalyConfig()
    ruled = AnomalyConfig.model_validate({"rules": [{"match": "metric:orders*", "robust": True}]})
    cases = (
        (default, "metric:system.disk.io{node}", True),
        (default, "metric:k8s.pod.network.io{pod}", True),
        (default, "metric:system.cpu.utilization{node}", True),
        (default, "metric:container.cpu.usage{pod}", True),
        (default, "metric:system.memory.usage{node}", False),
        (default, "span.p95_ms{shop GET /cart}", False),
        (ruled, "metric:orders{shop}", True),
        (ruled, "metric:system.disk.io{node}", False),  # rules given replace the defaults
    )
    for config, name, robust in cases:
        settings = settings_for(name, config)
        assert settings is not None and settings.robust is robust, name
        detector = SeriesState.new(name, "shop", settings).detector
        assert detector.config.spikes is robust and (detector.config.clip < 1e9) is robust


def test_state_survives_a_restart(tmp_path: Path) -> None:
    first = make(tmp_path, save_interval=1)
    feed(first, noisy(100))
    first.flush(T0 + 100 * 10 * S)
    again = make(tmp_path)
    again.consume_metrics(MetricBatch([gauge(100, 101.0)]))
    (view,) = again.snapshot()["top_scores"]
    assert view["points"] == 101


def only(processor: AnomalyProcessor) -> SeriesState:
    (state,) = processor.series.values()
    return state


def test_a_restart_under_changed_settings_learns_afresh(tmp_path: Path) -> None:
    first = make(tmp_path, save_interval=1)
    feed(first, noisy(100))
    first.flush(T0 + 100 * 10 * S)

    same = make(tmp_path)  # same settings: the detector continues where it stopped
    same.consume_metrics(MetricBatch([gauge(100, 101.0)]))
    assert only(same).detector.n == 101
    assert same.snapshot()["relearned"] == 0

    changed = make(tmp_path, sensitivity="high")  # its numbers were learned for another threshold
    changed.consume_metrics(MetricBatch([gauge(100, 101.0)]))
    state = only(changed)
    assert state.detector.n == 1 and state.relearned
    assert state.detector.config == SeriesState.new("x", "s", state.settings).detector.config
    assert changed.snapshot()["relearned"] == 1
    # learning afresh means warming up afresh: a spike right after the restart is not an alarm
    assert feed_from(changed, 101, [300.0]) == []


def test_a_series_saved_before_round_7_learns_afresh_once(tmp_path: Path) -> None:
    first = make(tmp_path)
    feed(first, noisy(100))
    saved = only(first).to_dict()
    # as round 6 saved it: no blocks of a day, no second model's weight in the settings
    config = saved["detector"]["config"]
    del config["coarse_duration_s"], config["second_weight"]
    as_it_ran = Detector.from_dict(saved["detector"]).config
    assert as_it_ran.second_weight == 0.0 and as_it_ran.coarse_duration_s == (86400.0,)
    restored = SeriesState.new("queue.depth", "worker", only(first).settings)
    restored.restore(json.loads(json.dumps(saved)))
    # the old document scored with the largest model alone: its numbers are not continued
    assert restored.relearned and restored.detector.n == 0
    assert restored.detector.config == DetectorSettings(threshold=DEFAULT_THRESHOLD, warm_up=30)
    again = SeriesState.new("queue.depth", "worker", only(first).settings)
    again.restore(restored.to_dict())
    assert not again.relearned  # once


def feed_from(processor: AnomalyProcessor, start: int, values: list[float]) -> list[Any]:
    found = []
    for i, value in enumerate(values, start):
        processor.consume_metrics(MetricBatch([gauge(i, value)]))
        found += processor.tick(T0 + i * 10 * S)
    return found


def test_open_episode_view_carries_the_bounded_history(tmp_path: Path) -> None:
    processor = make(tmp_path, history_points=5)
    found = feed(processor, noisy(200) + [300.0])
    assert [f.state for f in found] == ["open"]
    snapshot = processor.snapshot()
    (episode,) = snapshot["open_episodes"]
    history = episode["history"]
    assert len(history) == 5  # the last five of 201 points
    assert [p["t"] for p in history] == [(T0 + i * 10 * S) / S for i in range(196, 201)]
    last = history[-1]
    assert last["value"] == 300.0 and last["score"] == episode["score"]
    # the band the spike was judged against, before it was learned
    assert last["lower"] < 100 < last["upper"] < 300.0
    assert last["upper"] == found[0].attributes["expected_high"]
    assert snapshot["top_scores"][0]["history"] == history
    json.dumps(snapshot, allow_nan=False)  # finite numbers only


def test_a_restart_keeps_the_open_episode(tmp_path: Path) -> None:
    first = make(tmp_path, save_interval=1, history_points=50)
    (opened,) = feed(first, noisy(200) + [300.0])
    assert opened.state == "open"
    first.flush(T0 + 200 * 10 * S)

    again = make(tmp_path, history_points=50)
    assert feed_from(again, 201, [310.0]) == []  # still the same episode: not announced again
    (episode,) = again.snapshot()["open_episodes"]
    assert episode["episode"]["start_ns"] == opened.attributes["start_ns"]
    assert [p["value"] for p in episode["history"][-2:]] == [300.0, 310.0]
    assert len(episode["history"]) == 50

    found = feed_from(again, 202, noisy(10, seed=5))
    assert [f.state for f in found] == ["resolved"]
    assert found[0].attributes["start_ns"] == opened.attributes["start_ns"]
    # resolve_after=3: 310 scored inside the refractory period, so 201, 202, 203 are normal
    assert found[0].time_ns == T0 + 203 * 10 * S
    assert again.snapshot()["open_episodes"] == []


def test_history_points_is_validated() -> None:
    assert AnomalyConfig().history_points == 120
    for bad in (0, 10_001):
        with pytest.raises(ValidationError) as error:
            AnomalyConfig.model_validate({"history_points": bad})
        assert error.value.errors()[0]["loc"] == ("history_points",)
