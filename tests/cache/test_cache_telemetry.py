"""Spans and metrics of the ``otel_perf.cache`` scope, read back from the OTel SDK."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cache_support import FakeClock
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_perf.cache import Cache, CacheValueError, configure_cache


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def cache(self, name: str, **settings: Any) -> Cache:
        return configure_cache(
            name,
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            **settings,
        )

    def finished(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Metric name → [(attributes, value)] of the reader's current collection."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                assert scope.scope.name == "otel_perf.cache"
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = (point.count, point.sum)  # histogram
                        found.setdefault(metric.name, []).append((dict(point.attributes), value))
        return found


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


def test_get_put_load_and_remove_spans_carry_the_cache_attributes(
    telemetry: Telemetry, clock: FakeClock
) -> None:
    async def scenario() -> None:
        cache = telemetry.cache("spans", clock=clock, compress_threshold=10)
        assert await cache.get("user:1") is None
        await cache.get_or_load("user:1", lambda: {"name": "Ada Lovelace"}, ttl=30)
        assert await cache.get("user:1") == {"name": "Ada Lovelace"}
        clock.advance(5)
        await cache.delete("user:1")
        assert await cache.get("user:1") is None
        await cache.set("plain", 1, ttl=2)
        clock.advance(3)
        assert await cache.get("plain") is None
        await cache.set("t1", 1, tags=["group"])
        await cache.invalidate_tags("group")
        await cache.invalidate_pattern("nothing:*")

    asyncio.run(scenario())
    gets = telemetry.finished("cache.get")
    assert all(s.kind == SpanKind.INTERNAL for s in telemetry.spans.get_finished_spans())
    first, _, hit, after_delete, expired = (dict(s.attributes or {}) for s in gets)
    assert first == {
        "cache.name": "spans",
        "cache.key": "user:1",
        "cache.key_prefix": "user",
        "cache.hit": False,
        "cache.miss_reason": "absent",
    }
    assert hit["cache.hit"] is True and hit["cache.level"] == "l1"
    assert hit["cache.item_size"] > 2 and hit["cache.compressed"] is True
    assert hit["cache.saved_ms"] >= 0
    assert after_delete["cache.miss_reason"] == "invalidated"
    assert expired["cache.miss_reason"] == "expired" and expired["cache.expired_ago_s"] == 1.0

    put = dict(telemetry.finished("cache.put")[0].attributes or {})
    assert put["cache.ttl"] == 30.0 and put["cache.key"] == "user:1" and put["cache.compressed"]
    load = dict(telemetry.finished("cache.load")[0].attributes or {})
    assert load["cache.key"] == "user:1" and load["cache.load_ms"] >= 0

    removes = [dict(s.attributes or {}) for s in telemetry.finished("cache.remove")]
    by_operation = {r["cache.operation"]: r for r in removes}
    assert by_operation["delete"]["cache.entry_age_s"] == 5.0
    assert by_operation["delete"]["cache.entry_hits"] == 1
    assert by_operation["expire"]["cache.key"] == "plain"
    assert by_operation["tag"]["cache.tag"] == "group" and by_operation["tag"]["cache.removed"] == 1
    assert by_operation["pattern"]["cache.pattern"] == "nothing:*"
    assert by_operation["pattern"]["cache.removed"] == 0


def test_a_refused_value_marks_the_put_span_as_an_error(telemetry: Telemetry) -> None:
    async def scenario() -> None:
        cache = telemetry.cache("errors")
        with pytest.raises(CacheValueError):
            await cache.set("k", object())

    asyncio.run(scenario())
    (put,) = telemetry.finished("cache.put")
    assert put.status.status_code.name == "ERROR"
    assert put.events[0].name == "exception"


def test_metrics_count_hits_misses_evictions_invalidations_and_loads(
    telemetry: Telemetry, clock: FakeClock
) -> None:
    async def scenario() -> None:
        cache = telemetry.cache("metrics", max_size=2, clock=clock)
        await cache.get("a")
        await cache.get_or_load("a", lambda: "A")
        await cache.get("a")
        await cache.set("b", "B", ttl=1)
        await cache.set("c", "C", tags=["t"])  # evicts "a" (size)
        clock.advance(2)
        await cache.get("b")  # expired (ttl)
        await cache.invalidate_tags("t")
        await cache.set("d", "D")

    asyncio.run(scenario())
    points = telemetry.points()
    name = {"cache.name": "metrics"}
    assert points["cache.hits"] == [({**name, "cache.level": "l1"}, 1)]
    assert points["cache.misses"] == [(name, 3)]
    evictions = {p[0]["cache.eviction.reason"]: p[1] for p in points["cache.evictions"]}
    assert evictions == {"size": 1, "ttl": 1}
    assert points["cache.invalidations"] == [({**name, "cache.level": "l1"}, 1)]
    ((attrs, (count, _)),) = points["cache.load.duration"]
    assert attrs == name and count == 1
    assert points["cache.entries"] == [({**name, "cache.level": "l1"}, 1)]
    assert points["cache.size"] == [({**name, "cache.level": "l1"}, 5)]  # 2-byte header + '"D"'
