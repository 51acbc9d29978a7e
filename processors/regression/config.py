"""Settings of the ``regression`` processor."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration


class BenchmarkSettings(ComponentConfig):
    """``processors.regression.benchmark``: what the API may run on request.

    Attributes:
        allowed_targets: fnmatch patterns over ``scheme://host:port`` the sidecar may call;
            loopback only by default. Anything else is refused (HTTP 403) before connecting.
        callables: registered Python callables by name, ``name: "module:function"``; only
            these may be run through the API (by their name or their ``module:function``).
        max_iterations: the most iterations one request may ask for.
        max_concurrency: the most concurrent workers one request may ask for.
        timeout: per-request timeout of an HTTP target.
    """

    allowed_targets: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    )
    callables: dict[str, str] = Field(default_factory=dict)
    max_iterations: int = Field(default=10_000, gt=0)
    max_concurrency: int = Field(default=16, gt=0)
    timeout: Duration = 10.0

    @field_validator("callables")
    @classmethod
    def _module_function(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [f"{k}: {v!r}" for k, v in value.items() if ":" not in v]
        if bad:
            raise ValueError(f'expected "module:function", got {", ".join(bad)}')
        return value


class RegressionConfig(ComponentConfig):
    """``processors.regression``.

    Attributes:
        confidence: confidence level of the rank test and of the shift's interval.
        min_relative_change: smaller relative shifts of the median pass whatever the p-value.
        min_absolute_change_ms: version comparisons of live latency also pass shifts
            smaller than this many milliseconds (noise between two processes).
        min_samples: fewer samples on either side give ``inconclusive`` (unless the sequential
            test already calls a regression).
        false_alarm_rate: the most often a verdict calls a regression (or an improvement)
            between two samples of one distribution; split between the rank test, the tail
            test and the sequential test (``stats.py``).
        reservoir_size: raw samples kept per baseline and per (service, version, operation).
        version_window: samples compared on each side of a version change (the last N of the
            old version against the first N of the new one).
        baseline_intervals: closed span-metrics intervals per (service, operation) that make
            its automatic baseline (0 disables automatic baselines).
        changepoint_window / changepoint_min_size: the most p95 points per series (one per
            span-metrics interval) the change-point detector segments — those since the last
            change — and the least points per segment (defaults chosen on TCPD, see README).
        max_series: (service, operation) series tracked; the rest are counted.
        max_runs: runs kept per test name.
        save_interval: how often (event time) state is written to the store.
    """

    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    min_relative_change: float = Field(default=0.05, ge=0)
    min_absolute_change_ms: float = Field(default=1.0, ge=0)
    min_samples: int = Field(default=30, ge=2)
    false_alarm_rate: float = Field(default=0.02, gt=0, lt=0.5)
    direction: Literal["up", "down"] = "up"
    reservoir_size: int = Field(default=1000, ge=10)
    version_window: int = Field(default=200, ge=2)
    baseline_intervals: int = Field(default=30, ge=0)
    changepoint_window: int = Field(default=120, ge=10)
    changepoint_min_size: int = Field(default=5, ge=2)
    max_series: int = Field(default=5000, gt=0)
    max_runs: int = Field(default=200, gt=0)
    save_interval: Duration = 10.0
    benchmark: BenchmarkSettings = Field(default_factory=BenchmarkSettings)
