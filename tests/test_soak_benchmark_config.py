"""The soak benchmark's sidecar config is one the sidecar accepts."""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import Sidecar
from otel_perf.config.loader import load_config


def test_the_soak_config_loads_with_every_save_interval_as_a_duration(tmp_path: Path) -> None:
    sidecar = Sidecar(tmp_path, 0.5, 1_000)
    config = load_config(sidecar.config)
    processors = config.processors
    for name in ("slo", "regression", "cache", "anomaly"):
        assert processors[name].save_interval == 0.5
    assert config.service.queue.max_items == 1_000
