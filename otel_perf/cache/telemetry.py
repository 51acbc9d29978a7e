"""Cache spans and metrics under the instrumentation scope ``otel_perf.cache``.

OpenTelemetry has no cache semantic conventions yet; the names follow the widely used
ones (docs/app-side.md, "otel_perf.cache", has the table). One :class:`Telemetry` per pair of
providers is shared by every cache using them, so each instrument is created once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any, Protocol

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import (
    INVALID_SPAN,
    NoOpTracer,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

SCOPE = "otel_perf.cache"
MAX_KEY_CHARS = 256
INTERNAL = SpanKind.INTERNAL


class Observed(Protocol):
    """What the gauges read from a cache."""

    name: str

    def gauge_readings(self) -> tuple[int, int]:
        """(level-1 entries, level-1 bytes)."""
        ...


def key_attributes(name: str, key: str) -> dict[str, Any]:
    """``cache.name``, ``cache.key`` (at most 256 characters) and ``cache.key_prefix``."""
    prefix = key.split(":", 1)[0]
    return {
        "cache.name": name,
        "cache.key": key[:MAX_KEY_CHARS],
        "cache.key_prefix": prefix[:MAX_KEY_CHARS],
    }


class SpanScope:
    """Ends ``span`` on exit, recording an exception; the span is not made current, which
    saves the context switch on the hot path (operations have no child spans of their own)."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def __enter__(self) -> Span:
        return self.span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is not None and self.span.is_recording():
            self.span.record_exception(exc)
            self.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.span.end()


NO_SPAN = SpanScope(INVALID_SPAN)  # stands for a span a no-op tracer would have made


class Telemetry:
    """The tracer and instruments of the ``otel_perf.cache`` scope for one pair of providers."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        self._live_tracer: Tracer | None = None
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self.hits = meter.create_counter("cache.hits", "{hit}", "Cache lookups that found a value")
        self.misses = meter.create_counter(
            "cache.misses", "{miss}", "Cache lookups that found no value"
        )
        self.evictions = meter.create_counter(
            "cache.evictions", "{entry}", "Entries removed for room (size) or age (ttl)"
        )
        self.invalidations = meter.create_counter(
            "cache.invalidations", "{entry}", "Entries removed by delete, tag or pattern"
        )
        self.load_duration = meter.create_histogram(
            "cache.load.duration", "ms", "Time the loader took after a miss"
        )
        self._watched: weakref.WeakSet[Observed] = weakref.WeakSet()
        self._lock = threading.Lock()
        meter.create_observable_gauge(
            "cache.entries", [self._observe_entries], "{entry}", "Entries held in level 1"
        )
        meter.create_observable_gauge(
            "cache.size", [self._observe_bytes], "By", "Bytes of the entries held in level 1"
        )

    def live_tracer(self) -> Tracer | None:
        """The tracer, or None while it is a no-op (no SDK configured, or a no-op provider).

        A no-op tracer's spans record nothing and are never made current here, so the caches
        skip making them. With the global provider the API hands out a proxy that turns real
        once a provider is set; it is asked each time until then (``_tracer`` is its
        delegate: without that attribute the tracer counts as live).
        """
        live = self._live_tracer
        if live is None:
            delegate = getattr(self.tracer, "_tracer", self.tracer)
            if isinstance(delegate, NoOpTracer):
                return None
            live = self._live_tracer = self.tracer
        return live

    def watch(self, cache: Observed) -> None:
        with self._lock:
            self._watched.add(cache)

    def unwatch(self, cache: Observed) -> None:
        with self._lock:
            self._watched.discard(cache)

    def _readings(self) -> list[tuple[str, tuple[int, int]]]:
        with self._lock:
            watched = list(self._watched)
        return [(cache.name, cache.gauge_readings()) for cache in watched]

    def _observe_entries(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(entries, {"cache.name": name, "cache.level": "l1"})
            for name, (entries, _) in self._readings()
        ]

    def _observe_bytes(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(size, {"cache.name": name, "cache.level": "l1"})
            for name, (_, size) in self._readings()
        ]


_shared: dict[tuple[int, int], Telemetry] = {}
_defaults: dict[str, Any] = {"tracer_provider": None, "meter_provider": None}
_shared_lock = threading.Lock()


def set_providers(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> None:
    """Providers for caches configured from now on without their own (None: the global ones)."""
    _defaults["tracer_provider"] = tracer_provider
    _defaults["meter_provider"] = meter_provider


def telemetry_for(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> Telemetry:
    """The shared :class:`Telemetry` for these providers (the defaults when None)."""
    tracer_provider = tracer_provider or _defaults["tracer_provider"]
    meter_provider = meter_provider or _defaults["meter_provider"]
    ident = (id(tracer_provider), id(meter_provider))
    with _shared_lock:
        found = _shared.get(ident)
        if found is None:
            found = _shared[ident] = Telemetry(tracer_provider, meter_provider)
        return found
