"""Per-kind defaults of the anomaly processor: series are judged by what they are.

A CPU utilization series runs a nightly batch job: its default rule judges it with the
``robust`` settings, whose daily profile knows the job, so the job raises nothing day after
day while a level shift still opens an episode at once. The same series judged by the
generic detector (a rule turning ``robust`` off) calls the job news.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from otel_perf.component import Context
from otel_perf.model import MetricBatch, MetricPoint, MetricType, Resource
from otel_perf.processors.anomaly.config import AnomalyConfig
from otel_perf.processors.anomaly.processor import AnomalyProcessor
from otel_perf.series import SeriesHub
from otel_perf.store import Store

S = 1_000_000_000
T0_S = 1_767_225_600  # 2026-01-01 00:00 UTC
DAY = 1440  # per-minute points a day
NODE = Resource({"service.name": "node-1"})
CPU = "system.cpu.utilization"


def cpu_with_batch_job(days: int, seed: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Per-minute CPU utilization: a daily cycle, noise, a 02:00–02:30 job every night."""
    rng = np.random.default_rng(seed)
    minute = np.arange(days * DAY) % DAY
    daily = np.sin(2 * np.pi * (minute - 9 * 60) / DAY)
    batch = (minute >= 120) & (minute < 150)
    return np.clip(0.3 + 0.08 * daily + 0.35 * batch + rng.normal(0, 0.02, days * DAY), 0, 1)


def opened(tmp_path: Path, values: list[float], **settings: Any) -> list[int]:
    """Indexes of the points that opened an episode, through a real processor."""
    context = Context("anomaly", Store(tmp_path / "s.db"), SeriesHub())
    processor = AnomalyProcessor(context, AnomalyConfig.model_validate(settings))
    processor.start()
    out = []
    for i, value in enumerate(values):
        t_ns = (T0_S + 60 * i) * S
        point = MetricPoint(NODE, CPU, "1", MetricType.GAUGE, {}, t_ns, value=value)
        processor.consume_metrics(MetricBatch([point]))
        out += [i for f in processor.tick(t_ns) if f.state == "open"]
    processor.shutdown()
    return out


def test_a_nightly_batch_job_is_no_news_on_a_cpu_series(tmp_path: Path) -> None:
    values = cpu_with_batch_job(days=4, seed=7).tolist()
    assert opened(tmp_path / "default", values) == []
    generic = opened(tmp_path / "generic", values, rules=[{"match": "*", "robust": False}])
    # the generic detector calls the job news at least once after the first day
    assert any(i % DAY in range(120, 150) for i in generic), generic


def test_a_cpu_level_shift_is_still_found_at_once(tmp_path: Path) -> None:
    values = cpu_with_batch_job(days=4, seed=8)
    onset = 3 * DAY + 10 * 60  # day 3, 10:00, for four hours
    values[onset : onset + 240] += 0.2
    found = opened(tmp_path, values.tolist())
    assert found and onset <= found[0] <= onset + 5, found
