"""An idle sidecar imports no heavy numerics: scipy (``scipy.stats`` alone is ~70 MB
resident), ruptures and statsmodels load when a processor first computes with them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("scipy", "ruptures", "statsmodels")

CODE = """
import sys
from otel_perf.config import load_config
from otel_perf.pipeline import Pipeline
from otel_perf.store import Store
import otel_perf.cli, otel_perf.sidecar, otel_perf.receiver.grpc, otel_perf.receiver.http

pipeline = Pipeline(load_config(None), Store(":memory:", 1000))
pipeline.start(worker=False)
print(sorted(pipeline.processors))
print(" ".join(m for m in {heavy!r} if m in sys.modules))
pipeline.shutdown()
"""


def test_the_default_pipeline_starts_without_heavy_numerics() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CODE.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    processors, imported = (done.stdout.splitlines() + [""])[:2]
    assert "regression" in processors and "capacity" in processors  # they are configured
    assert imported == "", f"imported at start-up: {imported}"
