"""What the API's regression and benchmark routes do, apart from HTTP.

A benchmark request names a test and either a target for the sidecar to run (``url`` or a
registered ``callable``) or the ``samples_ms`` a client measured itself (the CLI's default).
:func:`plan` checks the target against the config before anything is contacted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from otel_perf.processors.regression import benchmark_runner
from otel_perf.processors.regression.analysis import RegressionService
from otel_perf.processors.regression.benchmark_runner import Call, TargetRefused
from otel_perf.processors.regression.config import BenchmarkSettings
from otel_perf.processors.regression.runs import finite_dict

ITERATIONS = 100  # timed calls of a benchmark request that does not say


class SamplesRequest(BaseModel):
    """``{name, samples_ms}``: a baseline to establish or a run to test."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    samples_ms: list[float] = Field(min_length=1, max_length=1_000_000)


class BenchmarkRequest(BaseModel):
    """``{name, url | callable | samples_ms, iterations, warmup, concurrency}``.

    ``warmup`` left out means :func:`benchmark_runner.default_warmup` of ``iterations``
    (10 %, at least 5), as the CLI does: a cold first call must not become the baseline.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: str | None = None
    callable: str | None = None
    samples_ms: list[float] | None = Field(default=None, min_length=1, max_length=1_000_000)
    iterations: int = Field(default=ITERATIONS, ge=1)
    warmup: int = Field(default=0, ge=0)
    concurrency: int = Field(default=1, ge=1)
    target: str = ""  # what a client ran, for the record (with samples_ms)

    @model_validator(mode="before")
    @classmethod
    def _default_warmup(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("warmup") is None:
            try:
                iterations = int(data.get("iterations", ITERATIONS))
            except (TypeError, ValueError):
                return data  # the field's own validation names the problem
            return {**data, "warmup": benchmark_runner.default_warmup(max(iterations, 1))}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> BenchmarkRequest:
        given = [k for k in ("url", "callable", "samples_ms") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of url, callable or samples_ms")
        return self


def plan(request: BenchmarkRequest, settings: BenchmarkSettings) -> Call | None:
    """The call to time (None when the client sent samples), checked against the config.

    Raises:
        TargetRefused: the URL is not allowed or the callable is not registered.
        ValueError: more iterations or concurrency than the config allows.
    """
    if request.iterations + request.warmup > settings.max_iterations:
        raise ValueError(
            f"iterations + warmup must be at most {settings.max_iterations} "
            "(benchmark.max_iterations)"
        )
    if request.concurrency > settings.max_concurrency:
        raise ValueError(f"concurrency must be at most {settings.max_concurrency}")
    if request.url is not None:
        benchmark_runner.check_target(request.url, settings.allowed_targets)
        return benchmark_runner.http_call(request.url, settings.timeout)
    if request.callable is not None:
        return benchmark_runner.resolve_callable(request.callable, settings.callables)
    return None


def execute(
    service: RegressionService, request: BenchmarkRequest, call: Call | None
) -> dict[str, Any]:
    """Run (or take the client's samples), describe, and record against the baseline."""
    target = request.url or request.callable or request.target or "client"
    if call is None:
        samples, errors, first_error = list(request.samples_ms or []), 0, ""
    else:
        result = benchmark_runner.run(call, request.iterations, request.warmup, request.concurrency)
        samples, errors, first_error = result.samples_ms, result.errors, result.first_error
    description = benchmark_runner.describe(samples, service.config.confidence)
    extra = {"benchmark": {"target": target, "errors": errors, "statistics": description}}
    body: dict[str, Any] = {"name": request.name, "target": target, "errors": errors}
    body["first_error"] = first_error or None
    body["statistics"] = description
    if not samples:
        body["recorded"] = False
        return finite_dict(body)
    body["recorded"] = True
    body.update(service.record_run(request.name, samples, source="benchmark", extra=extra))
    return finite_dict(body)


__all__ = ["BenchmarkRequest", "SamplesRequest", "TargetRefused", "execute", "plan"]
