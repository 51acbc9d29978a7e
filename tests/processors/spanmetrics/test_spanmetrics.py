"""Span metrics: RED per series on event-time intervals, rollups, bounds, persistence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from otel_perf.model import Resource, SpanBatch, SpanKind, SpanRecord
from otel_perf.processors.spanmetrics.keys import OVERFLOW, Keyer
from otel_perf.processors.spanmetrics.processor import red_row
from otel_perf.processors.spanmetrics.saved import legacy_document
from otel_perf.processors.spanmetrics.windows import Rollup
from otel_perf.rollups import REDBlock
from otel_perf.series import RED, SeriesInterval, SeriesKey

S = 1_000_000_000
T0 = 1_700_000_040 * S  # a multiple of 60 s and of 10 s


def span(
    end_s: float,
    duration_ms: float = 10.0,
    service: str = "shop",
    name: str = "GET /items/{id}",
    kind: int = SpanKind.SERVER,
    status: int = 0,
    **attrs: Any,
) -> SpanRecord:
    end = T0 + int(end_s * S)
    start = end - int(duration_ms * 1_000_000)
    return SpanRecord(
        b"t" * 16,
        b"s" * 8,
        b"",
        Resource({"service.name": service}),
        "test",
        name,
        kind,
        start,
        end,
        status,
        "",
        {"http.route": "/items/{id}", "http.request.method": "GET", **attrs},
    )


def key(**dims: str) -> SeriesKey:
    base = {"http.route": "/items/{id}", "http.request.method": "GET"}
    return SeriesKey("shop", "GET /items/{id}", SpanKind.SERVER, tuple({**base, **dims}.items()))


def test_calls_errors_and_durations_per_interval(make: Any) -> None:
    processor = make(late_grace="5s")
    spans = [
        span(1, 10),
        span(2, 20),
        span(3, 30, status=2),
        span(4, 40, **{"http.response.status_code": 503}),
        span(5, 50, kind=SpanKind.CLIENT, **{"http.response.status_code": 503}),
        span(12, 60),
    ]
    processor.consume_spans(SpanBatch(spans))
    processor.tick(T0 + 14 * S)  # first interval ends at 10 s + 5 s grace: still open
    assert make.published == []
    processor.tick(T0 + 15 * S)
    (first,) = make.published
    assert (first.start_ns, first.end_ns, first.resolution_s) == (T0, T0 + 10 * S, 10)
    server = first.values[key()]
    assert (server.calls, server.errors) == (4, 2)  # status ERROR and a 5xx server answer
    client = first.values[SeriesKey("shop", "GET /items/{id}", SpanKind.CLIENT, key().dims)]
    assert (client.calls, client.errors) == (1, 0)  # a 5xx seen by a client is not its error
    assert server.duration_s.quantile(1.0) == pytest.approx(0.040)
    assert server.duration_s.sum == pytest.approx(0.100)


def test_old_semantic_convention_names_fill_dimensions(make: Any) -> None:
    processor = make()
    old = span(1)
    old.attributes = {"http.route": "/items/{id}", "http.method": "GET"}
    processor.consume_spans(SpanBatch([old, span(2)]))
    processor.tick(T0 + 60 * S)
    assert make.published[0].values[key()].calls == 2


def test_late_spans_are_kept_and_counted(make: Any) -> None:
    processor = make(late_grace="0s")
    processor.consume_spans(SpanBatch([span(1)]))
    processor.tick(T0 + 20 * S)
    processor.consume_spans(SpanBatch([span(2)]))  # its interval closed already
    processor.tick(T0 + 40 * S)
    calls = sum(red.calls for interval in make.published for _, red in interval)
    assert calls == 2
    assert processor.windows.late_spans == 1


def test_rollups_to_a_minute_and_an_hour_are_published_and_stored(make: Any) -> None:
    processor = make(late_grace="0s")
    processor.consume_spans(SpanBatch([span(s * 10 + 1, 5.0 + s) for s in range(12)]))
    processor.tick(T0 + 3600 * S)
    minutes = [i for i in make.published if i.resolution_s == 60]
    hours = [i for i in make.published if i.resolution_s == 3600]
    assert [m.values[key()].calls for m in minutes] == [6, 6]
    assert [h.values[key()].calls for h in hours] == [12]
    rows = make.store.series(60)
    assert [body["calls"] for _, _, body in rows] == [6, 6]
    assert rows[0][2]["key"]["service"] == "shop"


def test_cardinality_limit_per_service_and_overflow(make: Any) -> None:
    processor = make(max_series_per_service=3)
    internal = SpanKind.INTERNAL  # named by their span names (a server span by its route)
    spans = [span(1, name=f"op-{i}", kind=internal) for i in range(5)] + [span(1, service="other")]
    processor.consume_spans(SpanBatch(spans))
    processor.tick(T0 + 60 * S)
    values = make.published[0].values
    overflow = [k for k in values if k.is_overflow]
    assert len(overflow) == 1 and overflow[0].service == "shop"
    assert values[overflow[0]].calls == 2
    assert processor.keyer.overflowed_spans == 2
    assert processor.snapshot()["overflowed_spans"] == 2


def test_a_limit_on_series_in_all_sends_new_keys_to_their_services_overflow(make: Any) -> None:
    processor = make(max_series=4)
    internal = SpanKind.INTERNAL
    spans = [span(1, name=f"op-{i}", kind=internal) for i in range(3)]
    spans += [span(1, name=f"op-{i}", service="other", kind=internal) for i in range(3)]
    processor.consume_spans(SpanBatch(spans + spans[:2]))  # known keys keep their series
    processor.tick(T0 + 60 * S)
    values = make.published[0].values
    assert processor.keyer.series == 4 and processor.keyer.overflowed_spans == 2
    overflow = {k.service: v.calls for k, v in values.items() if k.is_overflow}
    assert overflow == {"other": 2}
    assert sum(v.calls for k, v in values.items() if not k.is_overflow) == 6


def test_snapshot_quantiles_within_one_percent(make: Any) -> None:
    processor = make(late_grace="0s")
    rng = np.random.default_rng(7)
    durations = rng.lognormal(mean=3.0, sigma=0.8, size=2000)  # ms
    spans = [span(1 + (i % 50) / 10, float(d)) for i, d in enumerate(durations)]
    processor.consume_spans(SpanBatch(spans))
    processor.tick(T0 + 20 * S)
    (row,) = processor.snapshot()["red"]
    for q, name in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
        exact = float(np.quantile(durations, q, method="inverted_cdf"))
        assert row[name] == pytest.approx(exact, rel=0.01)
    assert row["calls"] == 2000 and row["rate_per_s"] == pytest.approx(2000 / 60, abs=1e-4)


def test_open_intervals_survive_a_restart(make: Any) -> None:
    first = make(late_grace="0s")
    first.consume_spans(SpanBatch([span(1), span(11)]))
    first.tick(T0 + 10 * S)
    first.flush(T0 + 10 * S)
    again = make(late_grace="0s")  # same store, same component id
    again.consume_spans(SpanBatch([span(15)]))
    again.tick(T0 + 60 * S)
    minute = [i for i in make.published if i.resolution_s == 60]
    assert minute and minute[-1].values[key()].calls == 3


def test_after_a_restart_the_api_shows_the_last_stored_minute(make: Any) -> None:
    first = make(late_grace="0s")
    first.consume_spans(SpanBatch([span(s * 10 + 1, 5.0 + s) for s in range(7)]))
    first.tick(T0 + 65 * S)  # closes the minute [T0, T0 + 60 s): stored
    (before,) = first.snapshot()["red"]
    first.flush(T0 + 65 * S)
    again = make(late_grace="0s")  # same store: nothing closed since the restart
    (after,) = again.snapshot()["red"]
    assert after["calls"] == 6 and after["rate_per_s"] == round(6 / 60, 4)
    assert before["calls"] == 6 and after == before  # the same six base intervals
    again.consume_spans(SpanBatch([span(75)]))
    again.tick(T0 + 80 * S)  # one base interval closed: the view is the live one again
    assert [r["calls"] for r in again.snapshot()["red"]] == [2]  # [60, 70) restored + 75
    assert again.snapshot()["state_discarded"] == 0


def test_unreadable_stored_rollups_are_not_shown_and_counted(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = make(late_grace="0s")
    first.consume_spans(SpanBatch([span(1)]))
    first.tick(T0 + 65 * S)
    first.flush(T0 + 65 * S)
    make.store.add_series(60, T0 - 60 * S, [("shop", "k", {"key": {"service": "shop"}})])
    again = make(late_grace="0s", api_window="2m", memory_horizon="2m")
    assert again.snapshot()["red"] == [] and again.snapshot()["state_discarded"] == 1
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "stored 1 min rollups unreadable" in warning.getMessage()


def red_of(processor: Any, *spans: SpanRecord) -> dict[str, int]:
    """Calls per operation of the first interval after consuming ``spans``."""
    processor.consume_spans(SpanBatch(list(spans)))
    processor.tick(T0 + 60 * S)
    return {row["operation"]: row["calls"] for row in processor.snapshot()["red"]}


def asgi_app_spans(end_s: float, path: str, route: str | None, status: int = 200) -> list[Any]:
    """What OpenTelemetry's ASGI middleware emits for one request: the server span (named
    after the raw path when no route matched) and its http receive / http send spans."""
    attrs: dict[str, Any] = {"http.response.status_code": status, "url.path": path}
    if route is not None:
        attrs["http.route"] = route
    server = span(end_s, name=f"GET {route or path}", **attrs)
    if route is None:
        del server.attributes["http.route"]
    inner = [
        span(end_s, 0.1, name=f"GET {path} http {what}", kind=SpanKind.INTERNAL)
        for what in ("receive", "send", "send")
    ]
    return [server, *inner]


def test_asgi_send_and_receive_spans_make_no_series_and_404s_share_one(make: Any) -> None:
    processor = make()
    spans = asgi_app_spans(1, "/items/3", "/items/{id}") + asgi_app_spans(
        2, "/items/4", "/items/{id}"
    )
    spans += asgi_app_spans(3, "/wp-login.php", None, 404) + asgi_app_spans(4, "/.env", None, 404)
    assert red_of(processor, *spans) == {"GET /items/{id}": 2, "GET (unmatched route)": 2}


def test_ids_in_names_are_templated_before_they_become_series(make: Any) -> None:
    processor = make()
    uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    spans = [span(1, name=f"process order {n}", kind=SpanKind.INTERNAL) for n in (17, 18, 19)] + [
        span(2, name=f"load /blobs/{uuid}?v=2", kind=SpanKind.INTERNAL)
    ]
    assert red_of(processor, *spans) == {
        "process order {id}": 3,
        "load /blobs/{id}": 1,
    }


def test_noise_that_came_first_cannot_push_a_real_route_into_overflow(make: Any) -> None:
    processor = make(max_series_per_service=3)
    noise = [span(1, name=f"job-{c}", kind=SpanKind.INTERNAL) for c in "abc"]  # fills the cap
    routes = [span(2, name="POST /cart", **{"http.route": "/cart"}) for _ in range(3)]
    frequent = [span(3, name="job-hot", kind=SpanKind.INTERNAL) for _ in range(4)]
    rare = [span(4, name="job-rare", kind=SpanKind.INTERNAL)]
    red = red_of(processor, *noise, *routes, *frequent, *rare)
    assert red["GET /cart"] == 3  # a routed entry takes the place of the rarest noise
    assert red["job-hot"] == 4 - 1  # seen more often than what it replaced: its first went over
    assert "job-rare" not in red and red[OVERFLOW] == 2  # the rare one stays in overflow
    assert processor.keyer.evicted_series == 2


def test_a_rollup_window_is_a_block_of_the_intervals_merged() -> None:
    key = SeriesKey("shop", "GET /items/{id}", SpanKind.SERVER)
    other = SeriesKey("shop", "GET /cart", SpanKind.SERVER)
    first, second = RED(calls=2, errors=1), RED(calls=3)
    first.duration_s.record_many(np.array([0.01, 0.02]))
    second.duration_s.record_many(np.array([0.03, 0.04, 0.05]))
    rollup = Rollup(60)
    rollup.add(SeriesInterval(T0, T0 + 10 * S, 10, {key: first}))
    window = rollup.open[T0]
    assert isinstance(window, REDBlock) and window[key] == first
    rollup.add(SeriesInterval(T0 + 10 * S, T0 + 20 * S, 10, {other: RED(calls=1), key: second}))
    expected = first.copy()
    expected.merge(second)
    assert (first.calls, first.errors, first.duration_s.count) == (2, 1, 2)  # untouched
    assert dict(rollup.open[T0].items()) == {key: expected, other: RED(calls=1)}
    assert list(rollup.open[T0]) == [key, other]  # in order of arrival, as a dict's keys
    assert rollup.open[T0][key] is not rollup.open[T0][key]  # each read is a RED of its own
    (closed,) = rollup.close_until(T0 + 60 * S, "spanmetrics")
    assert closed.values[key] == expected and closed.rollup and not rollup.open


def test_the_hour_is_built_from_closed_minutes_and_equals_every_interval_merged(
    make: Any,
) -> None:
    processor = make(late_grace="0s")
    durations = np.random.default_rng(5).lognormal(np.log(20.0), 1.0, 3 * 6 * 4)
    ends = [s * 2.5 + 1 for s in range(durations.size)]  # three minutes, 4 spans an interval
    minute, hour = processor.rollups
    for second in range(0, 181, 10):
        pairs = zip(ends, durations, strict=True)
        batch = [span(e, d) for e, d in pairs if second <= e < second + 10]
        processor.consume_spans(SpanBatch(batch))
        processor.tick(T0 + (second + 10) * S)
        if second < 50:  # the first minute is open: held once, by the minute rollup only
            assert minute.open[T0][key()].calls == 4 * (second // 10 + 1) and not hour.open
    (held,) = hour.open.values()
    assert held[key()].calls == durations.size  # three closed minutes merged in
    processor.tick(T0 + 3600 * S)
    bases = [i for i in make.published if i.resolution_s == 10]
    (published_hour,) = [i for i in make.published if i.resolution_s == 3600]
    expected = bases[0].values[key()].copy()
    for interval in bases[1:]:
        expected.merge(interval.values[key()])
    assert published_hour.values[key()] == expected
    assert expected.duration_s.count == durations.size


def test_an_older_saved_state_does_not_count_its_open_minute_twice_in_the_hour(
    make: Any,
) -> None:
    first = make(late_grace="0s")
    first.consume_spans(SpanBatch([span(s * 10 + 1) for s in range(9)]))  # 0-81 s
    first.tick(T0 + 85 * S)  # the minute [0, 60) closed into the hour; [60, 70) into the minute
    first.flush(T0 + 85 * S)
    rollups = [r.open for r in first.rollups]
    saved = legacy_document(first.windows.watermark_ns, first.windows.open, rollups)
    # as the code before 2 saved it: the 1 h rollup held the open minute's calls as well
    minute_open, hour_open = saved["rollups"]
    ((_, ((_, in_minute),)),) = minute_open
    ((_, ((_, in_hour),)),) = hour_open
    assert (in_minute["calls"], in_hour["calls"]) == (2, 6)
    in_hour["calls"] += in_minute["calls"]
    del saved["rollups_version"]
    make.store.save_state("spanmetrics", "open", saved, T0 + 85 * S)

    again = make(late_grace="0s")
    assert not again.rollups[0].open  # the open minute is not carried over
    again.tick(T0 + 3600 * S)
    (hour,) = [i for i in make.published if i.resolution_s == 3600]
    # 6 of the first minute + the open minute's 2, held by the old hour, + the span at 81 s
    # still in an open base interval: 11 if the restored open minute were added again
    assert hour.values[key()].calls == 9


def _merged(intervals: list[SeriesInterval]) -> dict[SeriesKey, RED]:
    """``RED.merge`` object by object: what the blocks must equal."""
    out: dict[SeriesKey, RED] = {}
    for interval in intervals:
        for k, red in interval.values.items():
            if k in out:
                out[k].merge(red)
            else:
                out[k] = red.copy()
    return out


def test_what_stays_after_close_reads_as_the_red_objects_merged(make: Any) -> None:
    """Recent intervals and rollups are blocks of columns; every reader sees the REDs the
    objects would give: many series, latency thresholds, and durations from 1 µs to
    hours, so some histograms downscale when intervals merge."""
    processor = make(late_grace="0s", latency_thresholds=["5ms", "1s"], api_window="60s")
    rng = np.random.default_rng(11)
    for second in range(0, 130, 10):
        batch = [
            span(
                second + float(rng.uniform(0, 9.9)),
                float(rng.lognormal(np.log(20.0), 3.0)) if i % 5 else 1e-3 * (1 + i % 3),
                service=f"svc-{i % 7}",
                name=f"GET /r{i % 11}",
                status=2 if i % 13 == 0 else 0,
                **{"http.route": f"/r{i % 11}"},
            )
            for i in range(60)
        ]
        batch.append(span(second + 5, 3.6e6 * 3, service="svc-0", **{"http.route": "/r0"}))
        processor.consume_spans(SpanBatch(batch))
        processor.tick(T0 + (second + 10) * S)
    bases = [i for i in make.published if i.resolution_s == 10]
    assert all(isinstance(i.values, REDBlock) for i in processor.recent)
    assert processor.red() == _merged(bases[-6:])
    downscaled = [red for red in processor.red().values() if red.duration_s.scale < 6]
    assert downscaled and all(red.within for red in processor.red().values())
    snapshot = processor.snapshot()
    expected = sorted(_merged(bases[-6:]).items(), key=lambda kv: -kv[1].calls)
    assert snapshot["red"] == [red_row(k, red, 60.0) for k, red in expected]
    processor.tick(T0 + 3600 * S)
    (minute_0, minute_1) = [i for i in make.published if i.resolution_s == 60][:2]
    assert dict(minute_0.values.items()) == _merged(bases[:6])
    assert dict(minute_1.values.items()) == _merged(bases[6:12])
    (hour,) = [i for i in make.published if i.resolution_s == 3600]
    assert dict(hour.values.items()) == _merged([minute_0, minute_1, *bases[12:]])


def test_series_of_the_same_route_on_many_services_share_their_text() -> None:
    keyer = Keyer(["http.route", "http.request.method"], max_series_per_service=2, max_services=10)

    def fresh(text: str) -> str:
        return "".join(list(text))  # an equal string that is another object, as each batch has

    keys = [
        keyer.key(span(1, service=fresh(f"svc-{i}"), name=fresh("GET /items/{id}")))
        for i in range(3)
    ]
    assert keys[0] is not None and keys[1] is not None and keys[2] is not None
    assert keys[0].operation is keys[1].operation is keys[2].operation
    assert keys[0].dims is keys[1].dims is keys[2].dims  # one tuple of dimensions for all
    assert keys[0].dims == (("http.route", "/items/{id}"), ("http.request.method", "GET"))
    assert keyer.key(span(2, service="svc-1", name="GET /items/{id}")) is keys[1]
    # the table of dimensions stays within the series held, however many were evicted
    for n in range(50):
        route = {"http.route": f"/r{n}"}
        for _ in range(2):
            keyer.key(span(3, service="svc-0", name=f"GET /r{n}", **route))
    assert keyer.evicted_series > 0 and len(keyer._dims) <= keyer.series + 1
