"""The ``cache`` processor: cache effectiveness from ``otel_perf.cache`` telemetry, TTL
advice, and queries worth caching found in traces.

* Per service × cache × key prefix: hits, misses (by reason), hit ratio, time saved by
  hits, load time, puts, removals; per cache the SDK's counters and gauges (entries, bytes,
  evictions) when metrics arrive.
* TTL too short / too long and cacheable DB queries (:mod:`.analysis`), evaluated every
  ``evaluation_interval`` of event time and announced as ``recommendation`` findings,
  deduplicated.
* Gauge ``otel_perf.cache.hit_ratio`` per service and cache; counters, TTL evidence and
  the watched queries' recent calls persisted, so a restart changes no advice.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from otel_perf.component import Context, Factory, Processor, gauges
from otel_perf.component.announce import Announcer
from otel_perf.component.state import PersistedState
from otel_perf.findings import Finding
from otel_perf.fingerprint import (
    db_operation,
    db_statement,
    db_system,
    fingerprint,
    fingerprint_id,
)
from otel_perf.model import MetricBatch, SpanBatch, SpanRecord
from otel_perf.processors.cache import intake
from otel_perf.processors.cache.analysis import (
    TTLRules,
    cacheable,
    ttl_too_long,
    ttl_too_short,
)
from otel_perf.processors.cache.calls import (
    CALLS,
    CallRing,
    CallsState,
    Watched,
    calls_document,
    restore_watched,
)
from otel_perf.processors.cache.config import CacheProcessorConfig
from otel_perf.processors.cache.findings import candidate_finding, ttl_finding
from otel_perf.processors.cache.state import COUNTERS, CacheState, CacheStats, Cumulative

NS = 1_000_000_000
STATE = "counters"
CALLS_STATE = "calls"

gauges.register(
    "otel_perf.cache.hit_ratio", "1", "Hit ratio per service and cache (0 to 1), from telemetry."
)


class CacheProcessor(Processor):
    """Counts cache telemetry; evaluates TTL advice and cacheable candidates on tick."""

    span_attributes = intake.SPAN_ATTRIBUTES

    def __init__(self, context: Context, config: CacheProcessorConfig) -> None:
        super().__init__(context)
        self.config = config
        self.caches: OrderedDict[tuple[str, str], CacheStats] = OrderedDict()
        self.watched: OrderedDict[tuple[str, str], Watched] = OrderedDict()
        self.cumulative = Cumulative(config.max_caches * 16)
        self.rules = TTLRules(
            window_s=config.window,
            min_events=config.min_events,
            short_share=config.ttl_short_share,
            refetch_after_expiry_s=config.refetch_after_expiry,
            refetch_ttl_fraction=config.refetch_ttl_fraction,
            margin=config.ttl_margin,
            long_share=config.ttl_long_share,
            bounds=config.ttl_bounds,
        )
        self.announcer = Announcer(int(config.quiet_period * NS))
        self.operations = frozenset(op.upper() for op in config.candidate_operations)
        self.recommendations: list[Finding] = []
        self.untracked = {"caches": 0, "fingerprints": 0, "malformed_spans": 0}
        self.evaluated_ns = 0
        self.state = PersistedState(context.store, self.id, STATE, COUNTERS, config.save_interval)
        self.calls_state = PersistedState(
            context.store, self.id, CALLS_STATE, CALLS, config.save_interval
        )

    # -- intake -------------------------------------------------------------
    def consume_spans(self, batch: SpanBatch) -> None:
        for span in batch.spans:
            if span.name in intake.CACHE_SPANS:
                self._cache_span(span)
            elif "db.system" in span.attributes or "db.system.name" in span.attributes:
                self._db_call(span)

    def _cache_span(self, span: SpanRecord) -> None:
        name = intake.text(span.attributes, "cache.name")
        cache = None if name is None else self._cache(span.service_name, name)
        if name is None:
            self.untracked["malformed_spans"] += 1
        if cache is not None:
            if not intake.read_span(span, cache):
                self.untracked["malformed_spans"] += 1
            self.state.mark_dirty()

    def consume_metrics(self, batch: MetricBatch) -> None:
        for point in batch.points:
            if point.name not in intake.METRICS:
                continue
            name = intake.text(point.attributes, "cache.name")
            cache = None if name is None else self._cache(point.service_name, name)
            if cache is not None:
                intake.read_point(point, cache, self.cumulative)
                self.state.mark_dirty()

    def _cache(self, service: str, name: str) -> CacheStats | None:
        key = (service, name)
        cache = self.caches.get(key)
        if cache is None:
            if len(self.caches) >= self.config.max_caches:
                self.untracked["caches"] += 1
                return None
            cache = CacheStats(service, name, self.config.max_prefixes, self.config.max_samples)
            self.caches[key] = cache
        return cache

    def _db_call(self, span: SpanRecord) -> None:
        attrs = span.attributes
        statement, system = db_statement(attrs), db_system(attrs)
        if statement is None or system is None:
            return
        operation = db_operation(attrs)
        if operation is None or operation.upper() not in self.operations:
            return
        text = fingerprint(statement)
        key = (span.service_name, fingerprint_id(text))
        watched = self.watched.get(key)
        if watched is None:
            if len(self.watched) >= self.config.max_fingerprints:
                self.untracked["fingerprints"] += 1
                return
            table = intake.text(attrs, "db.collection.name") or intake.text(attrs, "db.sql.table")
            calls = CallRing(self.config.max_samples)
            watched = self.watched[key] = Watched(text, system, table or "", calls)
        identity = fingerprint_id(statement[:2000])
        watched.calls.append(span.end_ns, identity, max(span.duration_ns, 0) / 1e6, span.trace_id)
        self.calls_state.mark_dirty()

    # -- evaluation ---------------------------------------------------------
    def tick(self, now_ns: int) -> list[Finding]:
        if self.evaluated_ns and now_ns - self.evaluated_ns < self.config.evaluation_interval * NS:
            return []
        return self._evaluate(now_ns)

    def finish(self, now_ns: int) -> list[Finding]:
        return self._evaluate(now_ns)

    def _evaluate(self, now_ns: int) -> list[Finding]:
        self.evaluated_ns = now_ns
        found = [*self._ttl_advice(now_ns), *self._candidates(now_ns)]
        self.recommendations = found
        magnitude = {
            f.key: float(f.attributes["estimated_saving_ms_per_min"])
            or float(f.attributes.get("estimated_saving_bytes_per_min", 0.0))
            for f in found
        }
        return self.announcer.evaluate(found, magnitude, now_ns)

    def _ttl_advice(self, now_ns: int) -> list[Finding]:
        out: list[Finding] = []
        for (service, name), cache in self.caches.items():
            for prefix, stats in cache.prefixes.items():
                ttl = stats.ttl_s
                for advice in (
                    ttl_too_short(stats.recent_misses, ttl, stats.mean_load_ms, now_ns, self.rules),
                    ttl_too_long(
                        stats.recent_removals, ttl, stats.mean_item_bytes, now_ns, self.rules
                    ),
                ):
                    if advice is not None:
                        out.append(ttl_finding(advice, service, name, prefix, now_ns, self.id))
        return out

    def _candidates(self, now_ns: int) -> list[Finding]:
        out: list[Finding] = []
        horizon_ns = self.config.candidate_horizon * NS
        for key in list(self.watched):
            watched = self.watched[key]
            if not watched.calls or watched.calls.newest_ns() < now_ns - horizon_ns:
                del self.watched[key]  # quiet for a whole horizon: make room
                self.calls_state.mark_dirty()
                continue
            candidate = cacheable(
                watched.calls.calls(),
                now_ns,
                self.config.candidate_horizon,
                self.config.candidate_min_repeats,
                self.config.candidate_min_ms_per_min,
                self.config.ttl_bounds,
            )
            if candidate is not None:
                service, fid = key
                out.append(
                    candidate_finding(
                        candidate,
                        service,
                        watched.fingerprint,
                        fid,
                        watched.db_system,
                        watched.table,
                        now_ns,
                        self.id,
                    )
                )
        return out

    # -- views --------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "caches": [cache.view() for cache in self.caches.values()],
            "recommendations": [f.model_dump(mode="json") for f in self.recommendations],
            "fingerprints_watched": len(self.watched),
            "evaluated_ns": self.evaluated_ns,
            "untracked": {**self.untracked, "metric_streams": self.cumulative.dropped},
            "state_discarded": self.state.discarded + self.calls_state.discarded,
        }

    def gauges(self) -> list[tuple[str, float, dict[str, str]]]:
        out: list[tuple[str, float, dict[str, str]]] = []
        for (service, name), cache in self.caches.items():
            ratio = cache.hit_ratio
            if ratio is not None:
                attrs = {"service.name": service, "cache.name": name}
                out.append(("otel_perf.cache.hit_ratio", ratio, attrs))
        return out

    # -- state --------------------------------------------------------------
    def start(self) -> None:
        self.announcer.load(self.context.store, self.id)
        self._restore_counters()
        self._restore_calls()

    def _restore_counters(self) -> None:
        saved = self.state.load()  # None, counted and logged when it cannot be read
        if saved is None:
            return
        limits = self.config.max_prefixes, self.config.max_samples
        for cache in saved.caches[: self.config.max_caches]:
            self.caches[(cache.service, cache.name)] = cache.bounded(*limits)
        self.cumulative.restore(saved.cumulative)

    def _restore_calls(self) -> None:
        saved = self.calls_state.load()
        if saved is not None:
            limits = self.config.max_fingerprints, self.config.max_samples
            self.watched = restore_watched(saved, *limits)

    def flush(self, now_ns: int) -> None:
        self.announcer.save(self.context.store, self.id, now_ns)
        self.state.flush(now_ns, self._document)
        self.calls_state.flush(now_ns, self._calls_document)

    def save(self, now_ns: int) -> None:
        """Write the counters and the watched calls to the store now (when anything changed)."""
        self.state.save(now_ns, self._document)
        self.calls_state.save(now_ns, self._calls_document)

    def _document(self) -> CacheState:
        return CacheState(list(self.caches.values()), self.cumulative.rows())

    def _calls_document(self) -> CallsState:
        return calls_document(self.watched)

    def shutdown(self) -> None:
        # the pipeline flushes before shutdown, but flush waits for save_interval
        self.state.close(self.evaluated_ns, self._document)
        self.calls_state.close(self.evaluated_ns, self._calls_document)


FACTORY: Factory[CacheProcessorConfig, Processor] = Factory(
    type="cache",
    config_model=CacheProcessorConfig,
    create=CacheProcessor,
    description="Cache hit ratios per cache and key prefix, TTL advice, and queries worth "
    "caching found in traces; forwards invalidate/warm-up to configured apps.",
)
