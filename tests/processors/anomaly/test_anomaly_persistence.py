"""The anomaly processor's series documents: throttled, written when changed, a failed
write retried, a damaged document discarded (the series learns afresh)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from otel_perf.component import Context
from otel_perf.model import MetricBatch, MetricPoint, MetricType, Resource
from otel_perf.processors.anomaly.config import AnomalyConfig
from otel_perf.processors.anomaly.processor import AnomalyProcessor
from otel_perf.processors.anomaly.series import SeriesState, settings_for
from otel_perf.series import SeriesHub
from otel_perf.store import Store, StoreWriteError

S = 1_000_000_000
T0 = 1_700_000_000 * S
WORKER = Resource({"service.name": "worker"})
DEPTH, LAG = "metric:queue.depth{worker}", "metric:queue.lag{worker}"


def make(store: Store) -> AnomalyProcessor:
    config = AnomalyConfig.model_validate({"warm_up": 30, "save_interval": 60})
    processor = AnomalyProcessor(Context("anomaly", store, SeriesHub()), config)
    processor.start()
    return processor


def point(processor: AnomalyProcessor, i: int, name: str, value: float = 1.0) -> None:
    batch = MetricBatch(
        [MetricPoint(WORKER, name, "", MetricType.GAUGE, {}, T0 + i * S, value=value)]
    )
    processor.consume_metrics(batch)


def points_saved(store: Store, series: str) -> int | None:
    body = store.load_state("anomaly", series)
    return None if body is None else len(body["state"]["deferred"])


def test_each_changed_series_is_written_at_most_once_per_save_interval(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    processor = make(store)
    point(processor, 1, "queue.depth")
    point(processor, 1, "queue.lag")
    processor.flush(T0 + 1 * S)
    assert (points_saved(store, DEPTH), points_saved(store, LAG)) == (1, 1)
    point(processor, 2, "queue.depth")
    processor.flush(T0 + 30 * S)  # within 60 s of the last write
    assert points_saved(store, DEPTH) == 1
    processor.flush(T0 + 61 * S)
    assert (points_saved(store, DEPTH), points_saved(store, LAG)) == (2, 1)
    store.close()


def test_a_failed_write_keeps_the_series_to_write_on_the_next_flush(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    processor = make(store)
    point(processor, 1, "queue.depth")
    store._db.execute("PRAGMA query_only = ON")  # a real SQLITE_READONLY
    with pytest.raises(StoreWriteError):
        processor.flush(T0 + 1 * S)
    store._db.execute("PRAGMA query_only = OFF")
    processor.flush(T0 + 61 * S)
    assert points_saved(store, DEPTH) == 1
    store.close()


@pytest.mark.parametrize("body", [{"points": 3}, {"deferred": [["x", 1.0, None]]}, [1, 2]])
def test_a_damaged_series_document_is_discarded_once_and_the_series_learns_afresh(
    tmp_path: Path, body: object, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "s.db")
    store.save_state("anomaly", DEPTH, body, 1)
    processor = make(store)
    with caplog.at_level(logging.WARNING, logger="otel_perf.component.state"):
        point(processor, 1, "queue.depth")
        point(processor, 2, "queue.depth")
    (series,) = processor.series.values()
    assert series.points == 2 and processor.snapshot()["state_discarded"] == 1
    (warning,) = caplog.records
    assert f"anomaly: saved state {DEPTH!r} unreadable" in warning.getMessage()
    store.close()


def test_series_documents_are_versioned_and_an_unversioned_one_still_loads(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.db")
    bare = {"deferred": [[T0 + 1 * S, 1.0, None], [T0 + 2 * S, 1.0, None]]}
    store.save_state("anomaly", DEPTH, bare, 1)  # as a build before versions wrote it
    processor = make(store)
    point(processor, 3, "queue.depth")
    (series,) = processor.series.values()
    assert series.points == 3 and processor.snapshot()["state_discarded"] == 0
    processor.flush(T0 + 3 * S)
    written = store.load_state("anomaly", DEPTH)
    assert written["version"] == 1 and written["state"]["deferred"][:2] == bare["deferred"]
    store.close()


def test_a_document_saved_before_the_band_model_and_episode_were_kept_still_loads() -> None:
    config = AnomalyConfig.model_validate({"warm_up": 30})
    settings = settings_for(DEPTH, config)
    assert settings is not None
    state = SeriesState.new(DEPTH, "worker", settings)
    for i in range(40):
        state.observe(T0 + i * S, 1.0 + (i % 3), "anomaly")
    body = state.to_dict()
    older = {k: v for k, v in body.items() if k not in {"normal_streak", "episode", "model"}}
    again = SeriesState.new(DEPTH, "worker", settings)
    again.restore({**older, "band": None})
    assert (again.points, again.model, again.band) == (40, "none", (-math.inf, math.inf))
    assert again.detector.to_dict() == state.detector.to_dict()
    with pytest.raises(ValueError, match=r"\$\.colour: not a field of SavedSeries"):
        again.restore({**body, "colour": "red"})
