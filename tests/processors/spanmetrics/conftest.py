"""The span metrics processor on a store in a temporary folder, restarted at will."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from otel_perf.component import Context
from otel_perf.processors.spanmetrics.config import SpanMetricsConfig
from otel_perf.processors.spanmetrics.processor import SpanMetricsProcessor
from otel_perf.series import SeriesHub, SeriesInterval
from otel_perf.store import Store


@pytest.fixture
def make(tmp_path: Path) -> Any:
    store = Store(tmp_path / "s.db")
    hub = SeriesHub()
    published: list[SeriesInterval] = []
    hub.subscribe(published.append)

    def build(**settings: Any) -> SpanMetricsProcessor:
        processor = SpanMetricsProcessor(
            Context("spanmetrics", store, hub), SpanMetricsConfig(**settings)
        )
        processor.start()
        return processor

    build.published = published  # type: ignore[attr-defined]
    build.store = store  # type: ignore[attr-defined]
    return build
