"""The cache processor: hit ratios per cache and prefix, TTL advice (too short, too long),
cacheable query candidates (and not from varied or cheap queries), SDK metrics, bounds,
deduplication and persistence."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from otlp_builders import kv
from pydantic import ValidationError
from trace_builder import db, span

from otel_perf.component import Context
from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits
from otel_perf.findings import Kind, State
from otel_perf.model import MetricBatch, MetricPoint, MetricType, Resource, SpanBatch, SpanKind
from otel_perf.processors.cache.analysis import quantile
from otel_perf.processors.cache.config import CacheProcessorConfig
from otel_perf.processors.cache.processor import CacheProcessor
from otel_perf.store import Store

S = 1_000  # ms per second, for span times
NS = 1_000_000_000


def processor(store: Store | None = None, **settings: Any) -> CacheProcessor:
    config = CacheProcessorConfig.model_validate(settings)
    return CacheProcessor(Context("cache", store or Store(":memory:")), config)


def cache_span(name: str, at_ms: float, trace: int = 1, dur_ms: float = 1.0, **attrs: Any) -> Any:
    return span(
        f"s{at_ms}",
        None,
        at_ms,
        at_ms + dur_ms,
        name=name,
        attrs=attrs,
        trace_id=trace.to_bytes(16, "big"),
    )


def get(at_ms: float, key: str, hit: bool, cache: str = "users", **attrs: Any) -> Any:
    return cache_span(
        "cache.get", at_ms, **{"cache.name": cache, "cache.key": key, "cache.hit": hit, **attrs}
    )


def view(p: CacheProcessor, cache: str) -> dict[str, Any]:
    return next(c for c in p.snapshot()["caches"] if c["cache"] == cache)


def prefix_view(p: CacheProcessor, cache: str, prefix: str) -> dict[str, Any]:
    return next(x for x in view(p, cache)["prefixes"] if x["prefix"] == prefix)


#: one call's columns as ``CallRing.to_dict`` writes them (time 1, identity 2, 3.0 ms)
COLUMNS = {
    "times_ns": "AQAAAAAAAAA=",
    "identities": "AgAAAAAAAAA=",
    "durations_ms": "AAAAAAAACEA=",
    "trace_ids": "01",
}
WATCHED = {
    "service": "s",
    "fingerprint_id": "f",
    "fingerprint": "q",
    "db_system": "pg",
    "table": "",
}


def recommendations(p: CacheProcessor, kind: str) -> list[dict[str, Any]]:
    return [r for r in p.snapshot()["recommendations"] if r["attributes"]["recommendation"] == kind]


def test_hit_ratio_per_cache_and_key_prefix() -> None:
    p = processor()
    spans = [get(i, f"user:{i % 3}", hit=i % 4 != 0, **{"cache.saved_ms": 12.5}) for i in range(8)]
    spans += [
        get(100 + i, "session:x", hit=False, **{"cache.miss_reason": "absent"}) for i in range(2)
    ]
    spans += [get(200, "q", hit=True, cache="db", **{"cache.level": "l2"})]
    spans += [
        cache_span(
            "cache.load", 300, dur_ms=40, **{"cache.name": "users", "cache.key": "session:x"}
        )
    ]
    p.consume_spans(SpanBatch(spans))

    users = view(p, "users")
    assert (users["hits"], users["misses"], users["source"]) == (6, 4, "spans")
    assert users["hit_ratio"] == pytest.approx(0.6)
    assert users["saved_ms"] == pytest.approx(6 * 12.5)
    user = prefix_view(p, "users", "user")
    assert (user["hits"], user["misses"], user["hit_ratio"]) == (6, 2, 0.75)
    assert user["misses_by_reason"] == {"other": 2}  # no miss_reason attribute
    session = prefix_view(p, "users", "session")
    assert session["hit_ratio"] == 0.0 and session["misses_by_reason"] == {"absent": 2}
    assert session["loads"] == 1 and session["load_ms"] == pytest.approx(40.0)
    assert prefix_view(p, "db", "q")["l2_hits"] == 1
    ratios = {a["cache.name"]: v for _, v, a in p.gauges()}
    assert ratios == {"users": pytest.approx(0.6), "db": 1.0}


def test_cache_attributes_survive_decoding_when_the_processor_asks_for_them() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    one = scope.spans.add()
    one.trace_id, one.span_id, one.name = b"t" * 16, b"s" * 8, "cache.get"
    one.start_time_unix_nano, one.end_time_unix_nano = 1, 2
    one.attributes.extend(
        [
            kv("cache.name", "users"),
            kv("cache.miss_reason", "expired"),
            kv("cache.expired_ago_s", 1.5),
            kv("cache.hit", False),
        ]
    )
    keys = SPAN_ATTRIBUTE_KEYS | CacheProcessor.span_attributes
    batch, _ = Decoder(Limits(span_attribute_keys=keys, clock=lambda: 10)).spans(request)
    assert batch.spans[0].attributes["cache.expired_ago_s"] == 1.5
    plain, _ = Decoder(Limits(clock=lambda: 10)).spans(request)
    assert "cache.miss_reason" not in plain.spans[0].attributes  # only because we ask


def short_ttl_traffic(expired_ago: list[float], reason: str = "expired") -> list[Any]:
    spans = [
        cache_span(
            "cache.put",
            0,
            **{
                "cache.name": "users",
                "cache.key": "user:1",
                "cache.ttl": 30.0,
                "cache.item_size": 100,
            },
        )
    ]
    spans += [
        cache_span("cache.load", 1, dur_ms=200, **{"cache.name": "users", "cache.key": "user:1"})
    ]
    for i, ago in enumerate(expired_ago):
        spans.append(
            get(
                10 * S + i * S,
                f"user:{i}",
                False,
                trace=i + 1,
                **{"cache.miss_reason": reason, "cache.expired_ago_s": ago},
            )
        )
    return spans


def test_ttl_too_short_when_misses_re_fetch_right_after_expiry() -> None:
    p = processor()
    agos = [1.0 + (i % 3) for i in range(30)]  # re-read 1-3 s after a 30 s TTL ran out
    p.consume_spans(SpanBatch(short_ttl_traffic(agos)))
    announced = p.tick(60 * NS)
    (rec,) = recommendations(p, "ttl_too_short")
    attrs = rec["attributes"]
    assert attrs["cache.name"] == "users" and attrs["cache.key_prefix"] == "user"
    assert attrs["current_ttl_s"] == 30.0
    expected = 2.0 * quantile([30.0 + a for a in agos], 0.9)  # margin × p90 of put→re-read
    assert attrs["suggested_ttl_s"] == pytest.approx(expected)
    # 30 re-fetches over the 50 s since the first one (counted as a minute) × 200 ms loads
    assert attrs["estimated_saving_ms_per_min"] == pytest.approx(30 * 200.0)
    assert attrs["share"] == 1.0
    assert len(rec["evidence"]["trace_ids"]) == 5
    assert [f.kind for f in announced] == [Kind.RECOMMENDATION]
    assert "raise the TTL" in announced[0].summary


def test_no_ttl_advice_for_cold_misses_late_re_reads_or_too_few_events() -> None:
    for agos, reason, count in (
        ([1.0] * 30, "absent", 30),  # never cached: the TTL is not the problem
        ([50.0] * 30, "expired", 30),  # read again long after expiry: TTL fits the traffic
        ([1.0] * 10, "expired", 10),  # under min_events
    ):
        p = processor()
        p.consume_spans(SpanBatch(short_ttl_traffic(agos[:count], reason)))
        p.tick(60 * NS)
        assert recommendations(p, "ttl_too_short") == [], (agos[0], reason)


def removals(hits: list[int], ttl: float = 300.0) -> list[Any]:
    spans = [
        cache_span(
            "cache.put",
            0,
            **{
                "cache.name": "users",
                "cache.key": "user:1",
                "cache.ttl": ttl,
                "cache.item_size": 2000,
            },
        )
    ]
    for i, h in enumerate(hits):
        spans.append(
            cache_span(
                "cache.remove",
                5 * S + i * S,
                trace=i + 1,
                **{
                    "cache.name": "users",
                    "cache.key": f"user:{i}",
                    "cache.operation": "delete",
                    "cache.entry_hits": h,
                    "cache.entry_age_s": 10.0 + i,
                },
            )
        )
    return spans


def test_ttl_too_long_when_invalidated_entries_were_never_read() -> None:
    p = processor()
    hits = [0] * 20 + [3] * 5  # 80 % removed unread
    p.consume_spans(SpanBatch(removals(hits)))
    p.tick(60 * NS)
    (rec,) = recommendations(p, "ttl_too_long")
    attrs = rec["attributes"]
    assert attrs["suggested_ttl_s"] == pytest.approx(quantile([10.0 + i for i in range(20)], 0.5))
    assert attrs["share"] == pytest.approx(0.8)
    assert attrs["estimated_saving_bytes_per_min"] == pytest.approx(20 * 2000.0)
    assert prefix_view(p, "users", "user")["removals"] == {"delete": 25}

    read = processor()
    read.consume_spans(SpanBatch(removals([2] * 25)))  # entries were used before removal
    read.tick(60 * NS)
    assert recommendations(read, "ttl_too_long") == []


def queries(sqls: list[str], dur_ms: float, every_ms: float = 1000.0) -> list[Any]:
    return [
        db(f"q{i}", None, i * every_ms, i * every_ms + dur_ms, sql) for i, sql in enumerate(sqls)
    ]


def test_a_repeated_expensive_query_is_a_cacheable_candidate() -> None:
    p = processor()
    p.consume_spans(SpanBatch(queries(["SELECT * FROM products WHERE id = 7"] * 20, 150.0)))
    p.tick(21 * NS)
    (rec,) = recommendations(p, "cacheable_query")
    attrs = rec["attributes"]
    assert attrs["fingerprint"] == "SELECT * FROM products WHERE id = ?"
    assert (attrs["calls"], attrs["distinct"], attrs["max_repeats"]) == (20, 1, 20)
    assert attrs["expected_hit_ratio"] == pytest.approx(0.95)
    assert attrs["db_ms_per_min"] == pytest.approx(20 * 150.0)
    assert attrs["estimated_saving_ms_per_min"] == pytest.approx(20 * 150.0 * 0.95)
    assert attrs["suggested_ttl_s"] == pytest.approx(19.0)  # first to last repeat
    assert attrs["cache.name"] == "db" and rec["evidence"]["trace_ids"]


def test_varied_cheap_or_writing_queries_are_not_candidates() -> None:
    cases = {
        "varied": ([f"SELECT * FROM products WHERE id = {i}" for i in range(20)], 150.0),
        "cheap": (["SELECT * FROM products WHERE id = 7"] * 20, 2.0),
        "write": (["UPDATE products SET n = 1 WHERE id = 7"] * 20, 150.0),
    }
    for name, (sqls, dur) in cases.items():
        p = processor()
        p.consume_spans(SpanBatch(queries(sqls, dur)))
        p.tick(21 * NS)
        assert recommendations(p, "cacheable_query") == [], name


def test_repeats_outside_the_horizon_do_not_count() -> None:
    p = processor(candidate_horizon="10s")
    p.consume_spans(
        SpanBatch(queries(["SELECT * FROM products WHERE id = 7"] * 8, 900.0, every_ms=5000.0))
    )
    p.tick(40 * NS)  # only 2 calls within the last 10 s
    assert recommendations(p, "cacheable_query") == []


def test_recommendations_are_announced_once_then_resolved() -> None:
    p = processor(evaluation_interval="1s")
    p.consume_spans(SpanBatch(queries(["SELECT * FROM t WHERE a = 1"] * 20, 150.0)))
    first = p.tick(21 * NS)
    again = p.tick(22 * NS)
    assert len(first) == 1 and again == []
    later = p.tick(200 * NS)  # nothing within the horizon any more
    assert [f.state for f in later] == [State.RESOLVED]
    assert p.snapshot()["fingerprints_watched"] == 0  # quiet fingerprints make room


def test_evaluation_waits_for_the_interval() -> None:
    p = processor(evaluation_interval="30s")
    p.tick(1 * NS)
    p.consume_spans(SpanBatch(queries(["SELECT * FROM t WHERE a = 1"] * 20, 150.0)))
    assert p.tick(21 * NS) == []
    assert len(p.tick(31 * NS)) == 1


def point(
    name: str, value: float, t_s: int, kind: MetricType = MetricType.SUM, **attrs: Any
) -> MetricPoint:
    return MetricPoint(
        resource=Resource({"service.name": "app"}),
        name=name,
        unit="1",
        type=kind,
        attributes={"cache.name": "users", **attrs},
        time_ns=t_s * NS,
        start_ns=NS,
        value=value,
        is_monotonic=kind == MetricType.SUM,
        temporality=2 if kind == MetricType.SUM else 0,
    )


def test_sdk_counters_are_cumulative_and_their_first_point_counts(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    p = processor(store)
    p.consume_metrics(
        MetricBatch(
            [
                point("cache.hits", 30, 10),
                point("cache.misses", 10, 10),
                point("cache.evictions", 4, 10, **{"cache.eviction.reason": "size"}),
                point("cache.entries", 12, 10, MetricType.GAUGE, **{"cache.level": "l1"}),
                point("cache.size", 4096, 10, MetricType.GAUGE, **{"cache.level": "l1"}),
            ]
        )
    )
    p.consume_metrics(MetricBatch([point("cache.hits", 50, 20), point("cache.misses", 10, 20)]))
    users = view(p, "users")
    assert (users["hits"], users["misses"], users["source"]) == (50.0, 10.0, "metrics")
    assert users["evictions"] == {"size": 4.0}
    assert users["entries"] == {"l1": 12.0} and users["size_bytes"] == {"l1": 4096.0}
    p.save(30 * NS)
    p.shutdown()

    restarted = processor(store)
    restarted.start()
    restarted.consume_metrics(MetricBatch([point("cache.hits", 60, 30)]))  # +10, not +60
    assert view(restarted, "users")["hits"] == 60.0
    restarted.consume_metrics(MetricBatch([point("cache.hits", 5, 40)]))  # a reset
    assert view(restarted, "users")["hits"] == 65.0


def test_span_counters_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    p = processor(store, save_interval="60s")
    p.consume_spans(SpanBatch([get(i, "user:1", hit=i % 2 == 0) for i in range(10)]))
    p.flush(10 * NS)
    p.consume_spans(SpanBatch([get(20, "user:1", hit=True)]))
    p.flush(20 * NS)  # within save_interval: not written yet
    saved = store.load_state("cache", "counters")
    assert saved["version"] == 1 and saved["state"]["caches"][0]["prefixes"]["user"]["hits"] == 5
    p.shutdown()  # writes what is still unsaved
    again = processor(store)
    again.start()
    assert prefix_view(again, "users", "user")["hits"] == 6
    assert prefix_view(again, "users", "user")["misses"] == 5
    store.close()


def test_advice_and_candidates_survive_a_restart_unchanged(tmp_path: Path) -> None:
    def traffic(p: CacheProcessor) -> None:
        p.consume_spans(SpanBatch(short_ttl_traffic([1.0 + (i % 3) for i in range(30)])))
        p.consume_spans(SpanBatch(queries(["SELECT * FROM products WHERE id = 7"] * 20, 150.0)))

    reference = processor(quiet_period="0s", evaluation_interval="1s")
    traffic(reference)
    reference.tick(50 * NS)
    expected = reference.tick(56 * NS)
    assert sorted(f.state for f in expected) == [State.UPDATED, State.UPDATED]
    store = Store(tmp_path / "s.db")
    p = processor(store, quiet_period="0s", evaluation_interval="1s")
    traffic(p)
    assert sorted(f.state for f in p.tick(50 * NS)) == [State.OPEN, State.OPEN]
    p.flush(50 * NS)
    p.shutdown()
    again = processor(store, quiet_period="0s", evaluation_interval="1s")
    again.start()
    # the same evidence is judged again: both pieces of advice updated, none re-opened
    assert again.tick(56 * NS) == expected
    assert again.snapshot() == reference.snapshot()
    assert again.snapshot()["state_discarded"] == 0
    store.close()


def test_counters_saved_before_the_evidence_was_still_load(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    p = processor(store)
    p.consume_spans(SpanBatch([get(i, "user:1", hit=i % 2 == 0) for i in range(10)]))
    p.shutdown()
    body = store.load_state("cache", "counters")["state"]  # bare: before versions
    for prefix in body["caches"][0]["prefixes"].values():
        for name in ("recent_misses", "recent_removals", "recent_ttls"):
            del prefix[name]  # the shape an older version wrote
    store.save_state("cache", "counters", body, NS)
    again = processor(store)
    again.start()
    assert prefix_view(again, "users", "user")["misses"] == 5
    assert again.snapshot()["state_discarded"] == 0
    store.close()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("counters", {"caches": [{"service": "shop"}], "cumulative": []}),  # from_dict fails
        ("counters", {"caches": "not a list"}),  # the model fails
        ("calls", {"watched": [{"service": "shop", "fingerprint_id": "x"}]}),
        ("calls", {"watched": [{**WATCHED, "calls": {"times_ns": [1]}}]}),  # not columns
        ("calls", {"watched": [{**WATCHED, "calls": {**COLUMNS, "times_ns": "AAAA"}}]}),
        ("calls", {"watched": [{**WATCHED, "calls": {**COLUMNS, "trace_ids": "zz"}}]}),
    ],
)
def test_a_damaged_saved_document_starts_empty_and_is_counted(
    tmp_path: Path, name: str, body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "s.db")
    store.save_state("cache", name, body, NS)
    p = processor(store)
    p.start()
    view = p.snapshot()
    assert view["caches"] == [] and view["fingerprints_watched"] == 0
    assert view["state_discarded"] == 1
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert f"saved state {name!r} unreadable" in warning.getMessage()
    p.consume_spans(SpanBatch([get(1, "user:1", hit=True)]))
    assert prefix_view(p, "users", "user")["hits"] == 1  # and goes on from empty
    store.close()


def test_maps_keyed_by_wire_data_are_bounded_and_count_what_overflowed() -> None:
    p = processor(max_caches=2, max_prefixes=2, max_fingerprints=1)
    p.consume_spans(
        SpanBatch(
            [get(1, "a:1", True, cache=c) for c in ("c1", "c2", "c3")]
            + [get(2, f"p{i}:1", True, cache="c1") for i in range(5)]
            + queries(["SELECT 1 FROM a", "SELECT 1 FROM b", "SELECT 1 FROM c"], 1.0)
            + [cache_span("cache.get", 3, **{"cache.key": "nameless"})]
        )
    )
    snap = p.snapshot()
    assert sorted(c["cache"] for c in snap["caches"]) == ["c1", "c2"]
    assert snap["untracked"]["caches"] == 1
    assert snap["untracked"]["fingerprints"] == 2
    assert snap["untracked"]["malformed_spans"] == 1
    c1 = view(p, "c1")
    assert sorted(x["prefix"] for x in c1["prefixes"]) == ["(other)", "a", "p0"]
    assert c1["prefixes_overflowed"] == 4
    assert c1["hits"] == 6  # nothing lost: the overflow bucket holds it


def test_wire_values_are_checked_not_trusted() -> None:
    p = processor()
    p.consume_spans(
        SpanBatch(
            [
                get(
                    1,
                    "k:1",
                    False,
                    **{"cache.miss_reason": "x" * 50, "cache.expired_ago_s": "soon"},
                ),
                get(2, "k:1", "yes"),  # type: ignore[arg-type]
                cache_span(
                    "cache.put",
                    3,
                    **{
                        "cache.name": "users",
                        "cache.key": "k:1",
                        "cache.ttl": math.nan,
                        "cache.item_size": True,
                    },
                ),
            ]
        )
    )
    k = prefix_view(p, "users", "k")
    assert k["misses_by_reason"] == {"other": 1} and k["hits"] == 0
    assert k["ttl_s"] is None and k["mean_item_bytes"] == 0
    assert p.snapshot()["untracked"]["malformed_spans"] == 1


def test_app_targets_are_validated_with_what_was_wrong() -> None:
    with pytest.raises(ValidationError) as caught:
        CacheProcessorConfig.model_validate(
            {
                "apps": [
                    {"name": "a", "endpoint": "ftp://x/_otel_perf/cache", "token": "t"},
                    {"name": "b", "endpoint": "http://127.0.0.1:1/c", "token": " "},
                ]
            }
        )
    text = str(caught.value)
    assert "apps.0.endpoint" in text and "expected an http(s) URL" in text
    assert "apps.1.token" in text and "token is empty" in text
    with pytest.raises(ValidationError, match="names must be unique, repeated: a"):
        CacheProcessorConfig.model_validate(
            {
                "apps": [
                    {"name": "a", "endpoint": "http://127.0.0.1:1/c", "token": "t"},
                    {"name": "a", "endpoint": "http://127.0.0.1:2/c", "token": "t"},
                ]
            }
        )
    ok = CacheProcessorConfig.model_validate(
        {
            "apps": [
                {"name": "a", "endpoint": "http://10.0.0.5:8000/_otel_perf/cache/", "token": "t"}
            ]
        }
    )
    assert ok.apps[0].endpoint == "http://10.0.0.5:8000/_otel_perf/cache"
    assert ok.model_dump(mode="json")["apps"][0]["token"] == "<redacted>"


def test_db_spans_of_any_kind_and_old_semconv_are_read() -> None:
    p = processor()
    spans = [
        db(
            f"q{i}",
            None,
            i * 1000,
            i * 1000 + 100,
            "SELECT a FROM t WHERE id = 1",
            old_semconv=True,
        )
        for i in range(12)
    ]
    assert all(s.kind == SpanKind.CLIENT for s in spans)
    p.consume_spans(SpanBatch(spans))
    p.tick(13 * NS)
    assert len(recommendations(p, "cacheable_query")) == 1
