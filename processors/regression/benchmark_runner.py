"""Run a benchmark: time ``iterations`` calls of an HTTP target or a registered callable.

What the sidecar may call is decided before anything is contacted: HTTP targets must match
an allow-list of ``scheme://host:port`` patterns (loopback only by default) and redirects are
never followed (a redirect could leave the allowed set); callables must be registered in the
config. Samples are wall-clock milliseconds per call, measured with ``perf_counter_ns``.
"""

from __future__ import annotations

import importlib
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

import httpx

from otel_perf.processors.regression.baselines import quantile

Call = Callable[[], object]
Progress = Callable[[int], None]
PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99))
#: untimed calls before the timed ones, unless asked otherwise: at least this many ...
MIN_WARMUP = 5
#: ... or this share of the timed iterations, whichever is more
WARMUP_SHARE = 0.1


def default_warmup(iterations: int) -> int:
    """Untimed calls before ``iterations`` timed ones: 10 %, at least 5.

    A first, cold run (connections, caches, lazy imports and JIT-like warm paths not yet
    set up) is slower than the runs after it; made a baseline, it would make every later
    identical run look like an improvement.

    >>> default_warmup(100), default_warmup(20), default_warmup(1000)
    (10, 5, 100)
    """
    return max(MIN_WARMUP, math.ceil(iterations * WARMUP_SHARE))


class TargetRefused(Exception):
    """The target is outside what this sidecar may call; nothing was contacted."""


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (default port filled in), lower-cased.

    Raises:
        TargetRefused: not an http(s) URL with a host.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f'target "{url}" is not an http:// or https:// URL with a host')
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise TargetRefused(f'target "{url}" has an invalid port') from None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


def check_target(url: str, allowed: Sequence[str]) -> None:
    """Raise :class:`TargetRefused` unless the URL's origin matches one ``allowed`` pattern."""
    where = origin(url)
    if not any(fnmatchcase(where, pattern.lower()) for pattern in allowed):
        raise TargetRefused(
            f'target "{url}" ({where}) is not in benchmark.allowed_targets '
            f"({', '.join(allowed) or 'empty'}); add a pattern to allow it"
        )


def http_call(url: str, timeout_s: float) -> Call:
    """A call that GETs ``url`` (redirects not followed) and reads the whole body.

    A new connection each call, as a cold client makes; a non-2xx answer (a 3xx included)
    raises, so it counts as a failed call.
    """
    client = httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_keepalive_connections=0))

    def call() -> object:
        response = client.get(url)
        response.raise_for_status()
        return response.content

    return call


def resolve_callable(spec: str, registry: Mapping[str, str]) -> Call:
    """The registered callable named ``spec`` (a registry name or its ``module:function``).

    Raises:
        TargetRefused: not registered, or it cannot be imported.
    """
    target = registry.get(spec) or (spec if spec in registry.values() else None)
    if target is None:
        known = ", ".join(sorted(registry)) or "none"
        raise TargetRefused(
            f'callable "{spec}" is not registered in benchmark.callables (registered: {known})'
        )
    module_name, _, function = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise TargetRefused(f'callable "{target}" cannot be loaded: {exc}') from None
    if not callable(fn):
        raise TargetRefused(f'"{target}" is not callable')
    return fn  # type: ignore[no-any-return]


@dataclass
class RunResult:
    """Samples (ms) of the successful calls and the failures."""

    samples_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


def run(
    call: Call,
    iterations: int,
    warmup: int | None = None,
    concurrency: int = 1,
    progress: Progress | None = None,
) -> RunResult:
    """Call ``warmup`` times untimed (default: :func:`default_warmup`), then ``iterations``
    times timed on ``concurrency`` threads.

    ``progress(n)`` is called after each timed call with the number done so far.
    """
    for _ in range(default_warmup(iterations) if warmup is None else warmup):
        _timed(call)
    result = RunResult()
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for elapsed_ms, error in pool.map(lambda _: _timed(call), range(iterations)):
            done += 1
            if error is None:
                result.samples_ms.append(elapsed_ms)
            else:
                result.errors += 1
                result.first_error = result.first_error or error
            if progress is not None:
                progress(done)
    return result


def _timed(call: Call) -> tuple[float, str | None]:
    start = time.perf_counter_ns()
    try:
        call()
    except Exception as exc:  # a failing target is data, not a crash
        return (time.perf_counter_ns() - start) / 1e6, f"{type(exc).__name__}: {exc}"
    return (time.perf_counter_ns() - start) / 1e6, None


def describe(samples_ms: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean with its confidence interval (normal approximation), percentiles, Tukey outliers.

    Outliers are samples outside ``[q1 - 1.5 IQR, q3 + 1.5 IQR]``.
    """
    n = len(samples_ms)
    if not n:
        return {"count": 0}
    mean = statistics.fmean(samples_ms)
    stdev = statistics.stdev(samples_ms) if n > 1 else 0.0
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * stdev / math.sqrt(n)
    q1, q3 = quantile(samples_ms, 0.25), quantile(samples_ms, 0.75)
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    outliers = [v for v in samples_ms if v < low or v > high]
    out: dict[str, Any] = {
        "count": n,
        "mean_ms": mean,
        "stdev_ms": stdev,
        "mean_ci_ms": [mean - half, mean + half],
        "confidence": confidence,
        "min_ms": min(samples_ms),
        "max_ms": max(samples_ms),
    }
    for name, q in PERCENTILES:
        out[f"{name}_ms"] = quantile(samples_ms, q)
    out["outliers"] = {"count": len(outliers), "low_fence_ms": low, "high_fence_ms": high}
    return out
