"""The exponential histogram: spec mapping, quantile error bounds, merge, SLO counts, exchange."""

from __future__ import annotations

import dataclasses
import doctest
import gc
import json
import math
import sys
import time
import tracemalloc
from collections.abc import Callable
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ExponentialHistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

from otel_perf.histogram import (
    MAX_SCALE,
    MIN_SCALE,
    ExponentialHistogram,
    lower_boundary,
    map_to_index,
    map_to_indices,
    quantile_relative_error,
)
from otel_perf.histogram import exponential as exponential_module
from otel_perf.histogram import mapping as mapping_module

Floats = npt.NDArray[np.float64]

QS = (0.5, 0.9, 0.95, 0.99, 0.999)
SCALES = range(MIN_SCALE, MAX_SCALE + 1)
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- data -----------------------------------------------------------------------------------


@st.composite
def latency_samples(draw: st.DrawFn, max_n: int = 3000) -> Floats:
    """Skewed or multimodal positive samples in [1e-6, 1e4]; numpy draws them from a seed."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 30) | st.integers(30, max_n))  # mostly large, some tiny
    family = draw(st.sampled_from(["lognormal", "exponential", "pareto", "mixture"]))
    center = 10.0 ** draw(st.floats(-4.0, 2.0))
    if family == "lognormal":
        values = rng.lognormal(0.0, draw(st.floats(0.05, 2.0)), n)
    elif family == "exponential":
        values = rng.exponential(1.0, n)
    elif family == "pareto":
        values = 1.0 + rng.pareto(draw(st.floats(0.8, 5.0)), n)
    else:
        modes = draw(st.integers(2, 3))
        medians = 10.0 ** np.array([draw(st.floats(0.0, 3.0)) for _ in range(modes)])
        sigmas = np.array([draw(st.floats(0.1, 1.0)) for _ in range(modes)])
        which = rng.choice(modes, size=n, p=rng.dirichlet(np.ones(modes)))
        values = medians[which] * rng.lognormal(0.0, sigmas[which])
    clipped: Floats = np.clip(center * values, 1e-6, 1e4)
    return clipped


@st.composite
def signed_samples(draw: st.DrawFn, max_n: int = 1000) -> Floats:
    """Latency-like magnitudes with random signs and some exact zeros."""
    magnitudes = draw(latency_samples(max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    signs = rng.choice([-1.0, 0.0, 1.0], size=magnitudes.size, p=[0.3, 0.1, 0.6])
    signed: Floats = magnitudes * signs
    return signed


def recorded(data: Floats, max_size: int = 2048) -> ExponentialHistogram:
    h = ExponentialHistogram(max_size=max_size)
    h.record_many(data)
    return h


def relative_error(estimate: float, exact: float) -> float:
    return 0.0 if estimate == exact else abs(estimate / exact - 1.0)


def assert_within_bound(h: ExponentialHistogram, data: Floats, bound: float) -> None:
    exact = np.quantile(data, QS, method="inverted_cdf")
    for q, estimate, truth in zip(QS, h.quantiles(QS), exact, strict=True):
        assert relative_error(estimate, float(truth)) <= bound, (q, estimate, truth, h)


def assert_same_data(a: ExponentialHistogram, b: ExponentialHistogram) -> None:
    """Equal buckets, counts, extremes and quantiles; sums equal up to float rounding."""
    pa, pb = a.otlp_buckets(), b.otlp_buckets()
    assert dataclasses.replace(pa, sum=0.0) == dataclasses.replace(pb, sum=0.0)
    assert math.isclose(a.sum, b.sum, rel_tol=1e-9, abs_tol=1e-12)
    assert a.quantiles(QS) == b.quantiles(QS)


# -- the index mapping agrees with the specification and the OTel SDK ----------------------


def spec_map_to_index(value: float, scale: int) -> int:
    """The specification's Go pseudo-code, transcribed (normal values only)."""
    frac, exp = math.frexp(value)
    if scale <= 0:
        exp -= 1
        if frac == 0.5:
            exp -= 1
        return exp >> -scale
    if frac == 0.5:
        return ((exp - 1) << scale) - 1
    return math.floor(math.log(value) * math.ldexp(math.log2(math.e), scale))


def sdk_map_to_index(value: float, scale: int) -> int:
    mapping = pytest.importorskip(
        "opentelemetry.sdk.metrics._internal.exponential_histogram.mapping."
        + ("logarithm_mapping" if scale > 0 else "exponent_mapping")
    )
    cls = mapping.LogarithmMapping if scale > 0 else mapping.ExponentMapping
    index: int = cls(scale).map_to_index(value)
    return index


def test_powers_of_two_map_exactly_at_every_scale() -> None:
    exponents = np.arange(-1022, 1024)
    powers = np.ldexp(1.0, exponents)
    for scale in SCALES:
        expected = [
            (int(e) << scale) - 1 if scale > 0 else (int(e) - 1) >> -scale for e in exponents
        ]
        assert [map_to_index(float(p), scale) for p in powers] == expected
        assert map_to_indices(powers, scale).tolist() == expected


def neighbours_of_powers_of_two() -> list[tuple[int, float, int]]:
    """(exponent, value, direction) for values a few ulps and 1e-12 above/below 2**e."""
    out = []
    for e in range(-64, 65):
        power = math.ldexp(1.0, e)
        for direction, limit in ((1, math.inf), (-1, 0.0)):
            value = power
            for _ in range(3):
                value = math.nextafter(value, limit)
                out.append((e, value, direction))
            out.append((e, power * (1.0 + direction * 1e-12), direction))
    return out


def test_neighbours_of_powers_of_two_agree_with_spec_and_sdk() -> None:
    cases = neighbours_of_powers_of_two()
    values = np.array([value for _, value, _ in cases])
    for scale in SCALES:
        ours = [map_to_index(float(v), scale) for v in values]
        assert ours == [spec_map_to_index(float(v), scale) for v in values]
        assert ours == [sdk_map_to_index(float(v), scale) for v in values]
        assert map_to_indices(values, scale).tolist() == ours
        for (e, _, direction), index in zip(cases, ours, strict=True):
            exact = (e if direction > 0 else e - 1) if scale <= 0 else None
            if exact is not None:  # the exponent method is exact
                assert index == exact >> -scale
            else:  # the logarithm method may be one bucket off right at a boundary
                assert index in ((e << scale) - 1, e << scale)


def test_extremes_agree_with_sdk() -> None:
    extremes = [5e-324, 1e-310, sys.float_info.min, sys.float_info.max, 1.7e308]
    for scale in SCALES:
        ours = [map_to_index(v, scale) for v in extremes]
        assert ours == [sdk_map_to_index(v, scale) for v in extremes]
        assert map_to_indices(np.array(extremes), scale).tolist() == ours


@SETTINGS
@given(st.floats(1e-300, 1e300), st.sampled_from(SCALES))
def test_any_value_agrees_with_sdk_and_falls_in_its_bucket(value: float, scale: int) -> None:
    index = map_to_index(value, scale)
    assert index == sdk_map_to_index(value, scale)
    assert map_to_indices(np.array([value]), scale).tolist() == [index]
    slack = 1e-12
    assert lower_boundary(index, scale) * (1 - slack) < value
    assert value <= lower_boundary(index + 1, scale) * (1 + slack)


@SETTINGS
@given(st.integers(-1000, 1000), st.sampled_from(range(1, 13)), st.integers(-2, 2))
def test_vectorised_mapping_equals_scalar_at_bucket_boundaries(
    index: int, scale: int, ulps: int
) -> None:
    value = lower_boundary(index, scale)
    for _ in range(abs(ulps)):
        value = math.nextafter(value, math.inf if ulps > 0 else 0.0)
    assert map_to_indices(np.array([value]), scale).tolist() == [map_to_index(value, scale)]


def test_buckets_match_the_otel_sdk_aggregation() -> None:
    rng = np.random.default_rng(42)
    values = np.concatenate([rng.lognormal(0.0, 2.0, 3000), np.zeros(5), [1.0, 2.0, 0.5]])
    rng.shuffle(values)
    for max_size in (2048, 160, 20, 4):
        reader = InMemoryMetricReader()
        aggregation = ExponentialBucketHistogramAggregation(max_size=max_size, max_scale=6)
        provider = MeterProvider(
            metric_readers=[reader],
            views=[View(instrument_name="latency", aggregation=aggregation)],
        )
        instrument = provider.get_meter("test").create_histogram("latency")
        for value in values:
            instrument.record(float(value))
        metrics = reader.get_metrics_data()
        provider.shutdown()
        assert metrics is not None
        point = metrics.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points[0]
        assert isinstance(point, ExponentialHistogramDataPoint)
        sdk = ExponentialHistogram.from_otlp(
            point.scale,
            point.zero_count,
            point.positive.offset,
            point.positive.bucket_counts,
            point.negative.offset,
            point.negative.bucket_counts,
            point.count,
            point.sum,
            point.min,
            point.max,
        )
        ours = recorded(values, max_size)
        assert ours.scale == sdk.scale, max_size
        assert_same_data(ours, sdk)


# -- quantile accuracy against numpy's exact inverted-CDF percentiles ----------------------


@SETTINGS
@given(latency_samples())
def test_quantiles_within_one_percent_without_downscale(data: Floats) -> None:
    h = recorded(data)
    if math.log10(data.max() / data.min()) <= 9.0:  # 2048 buckets at scale 6 span 9.6 decades
        assert h.scale == 6
    bound = quantile_relative_error(h.scale) * (1 + 1e-9)
    if h.scale == 6:
        assert bound <= 0.0055
        bound = min(bound, 0.01)
    assert_within_bound(h, data, bound)


@SETTINGS
@given(latency_samples(), st.integers(8, 256))
def test_error_after_a_forced_downscale_is_bounded_by_the_new_scale(
    data: Floats, max_size: int
) -> None:
    h = recorded(data, max_size)
    spans = {s: int(np.ptp(map_to_indices(data, s))) + 1 for s in (h.scale, h.scale + 1)}
    assert spans[h.scale] <= max_size  # the buckets fit...
    if h.scale < 6:  # ...and one scale finer would not: the downscale went no further
        assert spans[h.scale + 1] > max_size
    assert len(h.otlp_buckets().positive_counts) <= max_size
    assert_within_bound(h, data, quantile_relative_error(h.scale) * (1 + 1e-9))


def test_a_forced_downscale_loses_resolution_but_keeps_its_bound() -> None:
    data = np.random.default_rng(3).lognormal(0.0, 2.0, 2000)
    h = recorded(data, max_size=16)
    assert h.scale <= 1
    assert_within_bound(h, data, quantile_relative_error(h.scale) * (1 + 1e-9))
    assert quantile_relative_error(h.scale) > 0.01  # so the 1% promise needs scale 6


@SETTINGS
@given(signed_samples())
def test_quantiles_with_negatives_and_zeros(data: Floats) -> None:
    h = recorded(data)
    assert_within_bound(h, data, quantile_relative_error(h.scale) * (1 + 1e-9))


@SETTINGS
@given(st.integers(1, 60), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_rank_convention_is_numpys_inverted_cdf(n: int, q: float, seed: int) -> None:
    # Neighbouring values 1.1x apart: an off-by-one rank would miss by far more than 0.55%.
    data = 1.1 ** np.random.default_rng(seed).permutation(n).astype(np.float64)
    h = recorded(data)
    truth = float(np.quantile(data, q, method="inverted_cdf"))
    assert relative_error(h.quantile(q), truth) <= quantile_relative_error(6)


def test_quantile_edges() -> None:
    empty = ExponentialHistogram()
    assert math.isnan(empty.quantile(0.5)) and math.isnan(empty.mean) and empty.is_empty
    h = recorded(np.array([3.0, 0.25, 17.0, 4.5]))
    assert (h.quantile(0.0), h.quantile(1.0)) == (0.25, 17.0)
    single = recorded(np.array([0.0123]))
    assert single.quantiles([0.0, 0.5, 0.99, 1.0]) == [0.0123] * 4
    signed = recorded(np.array([-8.0, -1.0, 0.0, 0.0, 2.0]))
    assert signed.quantiles([0.2, 0.6, 0.8, 0.81]) == [-8.0, 0.0, 0.0, 2.0]  # ranks 1 and n
    assert signed.quantile(0.4) == pytest.approx(-1.0, rel=quantile_relative_error(6))
    assert signed.mean == pytest.approx(-7.0 / 5)
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError):
            h.quantile(bad)


# -- merge ---------------------------------------------------------------------------------


@SETTINGS
@given(signed_samples(), signed_samples(), st.sampled_from([2048, 160, 20]))
def test_merge_equals_recording_everything_into_one(a: Floats, b: Floats, max_size: int) -> None:
    left, right = recorded(a, max_size), recorded(b, max_size)
    note(f"{left} + {right}")
    everything = recorded(np.concatenate([a, b]), max_size)
    merged = left.copy()
    merged.merge(right)
    assert_same_data(merged, everything)
    swapped = right.copy()
    swapped.merge(left)
    assert_same_data(swapped, everything)
    assert left == recorded(a, max_size)  # merge leaves its argument alone


def test_merge_across_scales() -> None:
    rng = np.random.default_rng(11)
    wide, narrow = rng.lognormal(0.0, 3.0, 3000), rng.lognormal(2.0, 0.2, 500)
    coarse, fine = recorded(wide, 256), recorded(narrow, 256)
    assert coarse.scale < fine.scale == 6
    merged = fine.copy()
    merged.merge(coarse)
    assert merged.scale == coarse.scale
    assert_same_data(merged, recorded(np.concatenate([narrow, wide]), 256))


def test_merge_respects_the_max_size_bound() -> None:
    low, high = recorded(np.array([1e-3, 1.5e-3]), 64), recorded(np.array([1e3, 1.5e3]), 64)
    assert low.scale == high.scale == 6
    low.merge(high)
    assert low.scale < 6
    assert len(low.otlp_buckets().positive_counts) <= 64
    assert_same_data(low, recorded(np.array([1e-3, 1.5e-3, 1e3, 1.5e3]), 64))


def test_merging_an_empty_histogram_changes_nothing() -> None:
    h = recorded(np.array([1.0, 5.0]))
    before = h.copy()
    h.merge(ExponentialHistogram(max_scale=0))
    assert h == before and h.scale == 6
    empty = ExponentialHistogram()
    empty.merge(before)
    assert empty == before


# -- count_at_or_below (SLO latency objectives) ---------------------------------------------


@SETTINGS
@given(latency_samples(max_n=1000))
def test_count_at_or_below_is_exact_on_bucket_boundaries(data: Floats) -> None:
    h = recorded(data)
    point = h.otlp_buckets()
    first, last = point.positive_offset, point.positive_offset + len(point.positive_counts)
    for index in np.unique(np.linspace(first - 2, last + 2, 120).astype(int)):
        threshold = lower_boundary(int(index), h.scale)
        assert h.count_at_or_below(threshold) == np.count_nonzero(data <= threshold)


@SETTINGS
@given(signed_samples(max_n=1000))
def test_count_at_or_below_is_monotone_and_bounded(data: Floats) -> None:
    h = recorded(data)
    spread = np.concatenate([data, -np.geomspace(1e-7, 2e4, 200), np.geomspace(1e-7, 2e4, 200)])
    thresholds = np.sort(np.concatenate([spread, [0.0]]))
    counts = [h.count_at_or_below(float(t)) for t in thresholds]
    assert np.all(np.diff(counts) >= 0)
    assert counts[0] >= 0 and counts[-1] == h.count
    assert h.count_at_or_below(float(data.max())) == data.size
    assert h.count_at_or_below(math.nextafter(float(data.min()), -math.inf)) == 0
    assert h.count_at_or_below(0.0) == np.count_nonzero(data <= 0)


def test_count_at_or_below_interpolates_log_linearly_inside_a_bucket() -> None:
    base = 2.0 ** (1 / 64)
    h = recorded(np.linspace(1.0005, 1.0105, 100))  # all in bucket 0: (1, base]
    assert h.count_at_or_below(math.sqrt(base)) == pytest.approx(50.0)
    assert h.count_at_or_below(base**0.25) == pytest.approx(25.0)
    with pytest.raises(ValueError):
        h.count_at_or_below(math.nan)


# -- record_many is record, vectorised ------------------------------------------------------


@SETTINGS
@given(signed_samples(max_n=400), st.sampled_from([2048, 64, 8]), st.integers(1, 4))
def test_record_many_equals_repeated_record(data: Floats, max_size: int, chunks: int) -> None:
    one_by_one = ExponentialHistogram(max_size=max_size)
    for value in data:
        one_by_one.record(float(value))
    batched = ExponentialHistogram(max_size=max_size)
    for chunk in np.array_split(data, chunks):
        batched.record_many(chunk)
    assert_same_data(batched, one_by_one)
    assert batched.sum == one_by_one.sum  # added in the same order, to the last bit


def test_record_with_a_count() -> None:
    weighted, repeated = ExponentialHistogram(), ExponentialHistogram()
    weighted.record(0.004, count=3)
    weighted.record(-2.0, count=0)
    for _ in range(3):
        repeated.record(0.004)
    assert weighted == repeated


def test_record_many_is_much_cheaper_than_record() -> None:
    durations = np.random.default_rng(5).lognormal(-3.0, 1.0, 512)

    def batched() -> None:
        ExponentialHistogram().record_many(durations)

    def one_by_one() -> None:
        h = ExponentialHistogram()
        for value in durations.tolist():
            h.record(value)

    def best(fn: object) -> float:
        assert callable(fn)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    assert best(one_by_one) > 5 * best(batched)


def test_bad_values_are_rejected_without_side_effects() -> None:
    h = recorded(np.array([1.0, 2.0]))
    before = h.copy()
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            h.record(bad)
        with pytest.raises(ValueError):
            h.record_many(np.array([3.0, bad]))
    with pytest.raises(ValueError):
        h.record(1.0, count=-1)
    assert h == before
    with pytest.raises(ValueError):
        ExponentialHistogram(max_size=1)
    with pytest.raises(ValueError):
        ExponentialHistogram(max_scale=MAX_SCALE + 1)


# -- exchange: dict, JSON and OTLP ----------------------------------------------------------


@SETTINGS
@given(signed_samples(), st.sampled_from([2048, 32]))
def test_to_dict_round_trips_exactly_through_json(data: Floats, max_size: int) -> None:
    h = recorded(data, max_size)
    restored = ExponentialHistogram.from_dict(json.loads(json.dumps(h.to_dict())))
    assert restored == h
    assert restored.to_dict() == h.to_dict()
    assert (restored.max_size, restored.max_scale) == (max_size, 6)
    assert restored.quantiles(QS) == h.quantiles(QS)


def test_special_histograms_round_trip() -> None:
    zeros = ExponentialHistogram(max_scale=3)
    zeros.record(0.0, count=4)
    for h in (ExponentialHistogram(), zeros, recorded(np.array([-1e-5, 7.0]))):
        assert ExponentialHistogram.from_dict(json.loads(json.dumps(h.to_dict()))) == h
        assert ExponentialHistogram.from_otlp(**dataclasses.asdict(h.otlp_buckets())) == h
    assert ExponentialHistogram().to_dict()["min"] is None


def test_from_otlp_trims_padding_and_estimates_missing_extremes() -> None:
    h = ExponentialHistogram.from_otlp(3, 0, 10, [0, 0, 3, 0, 2, 0], 0, [], 5, None, None, None)
    point = h.otlp_buckets()
    assert (point.positive_offset, point.positive_counts) == (12, (3, 0, 2))
    assert (h.min, h.max) == (lower_boundary(12, 3), lower_boundary(15, 3))
    assert math.isnan(h.sum) and point.sum is None
    assert h.count_at_or_below(lower_boundary(13, 3)) == 3


def test_from_otlp_keeps_a_wide_point_unchanged() -> None:
    counts = [1] * 3000
    h = ExponentialHistogram.from_otlp(6, 0, -1500, counts, 0, [], 3000, 1.0, 0.1, 10.0)
    assert h.max_size == 3000 and h.otlp_buckets().positive_counts == tuple(counts)


def test_from_otlp_rejects_inconsistent_points() -> None:
    with pytest.raises(ValueError):
        ExponentialHistogram.from_otlp(6, 0, 0, [1, 2], 0, [], 4, 1.0, 1.0, 2.0)
    with pytest.raises(ValueError):
        ExponentialHistogram.from_otlp(6, 0, 0, [3, -1], 0, [], 2, 1.0, 1.0, 2.0)
    with pytest.raises(ValueError):
        ExponentialHistogram.from_otlp(21, 0, 0, [1], 0, [], 1, 1.0, 1.0, 1.0)


# -- memory ---------------------------------------------------------------------------------


def test_memory_follows_the_span_in_use() -> None:
    empty = ExponentialHistogram()
    assert empty.nbytes == sys.getsizeof(empty) < 1024
    narrow = recorded(np.linspace(1.0, 2.0, 10_000))  # one octave: 65 buckets at scale 6
    assert len(narrow.otlp_buckets().positive_counts) == 65
    assert narrow.nbytes < empty.nbytes + 65 * 8 + 256
    wide = recorded(np.geomspace(1e-3, 1e6, 10_000))  # nine decades: 1914 buckets
    assert 1914 * 2 < wide.nbytes < empty.nbytes + 1914 * 2 + 512  # 10,000 values: uint16


def traced_bytes_each(make: Callable[[], object], n: int) -> float:
    """Mean bytes allocated and still held per object made by ``make`` (tracemalloc)."""
    kept: list[object] = []
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept.extend(make() for _ in range(n))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return (held - sys.getsizeof(kept)) / n


def test_small_histograms_stay_small() -> None:
    # Span metrics keep one sketch per series per interval, several copies at 20,000 series:
    # 10 lognormal values spread over ~170 buckets cost about 2,000 bytes with int64 counts.
    samples = iter(np.random.default_rng(17).lognormal(-3.0, 0.6, (500, 10)))

    def small() -> ExponentialHistogram:
        h = ExponentialHistogram()
        h.record_many(next(samples))
        return h

    assert traced_bytes_each(ExponentialHistogram, 500) <= 250
    assert traced_bytes_each(small, 500) <= 700


def test_counts_widen_past_each_dtype_limit() -> None:
    h = ExponentialHistogram()
    h.record(1.5, 250)
    h.record_many(np.full(10, 1.5))  # 260: past uint8 through record_many
    h.record(-2.0)
    h.record(1.5, 70_000)  # past uint16 through record
    big = ExponentialHistogram()
    big.record(1.5, 2**32)
    big.record(1.75, 3)
    h.merge(big)  # past uint32 through merge
    index = map_to_index(1.5, 6)
    point = h.otlp_buckets()
    assert point.positive_offset == index
    assert point.positive_counts[0] == 260 + 70_000 + 2**32
    assert point.positive_counts[-1] == 3 and sum(point.positive_counts) == h.count - 1
    assert (point.negative_offset, point.negative_counts) == (map_to_index(2.0, 6), (1,))
    assert h.count_at_or_below(1.6) == h.count - 3
    assert h.quantile(0.5) == pytest.approx(1.5, rel=quantile_relative_error(6))
    wrapped = ExponentialHistogram(max_size=4)  # a downscale merges 255 counts into one
    wrapped.record_many(np.linspace(1.01, 1.5, 255))
    assert wrapped.otlp_buckets().positive_counts[-1] > 0
    assert sum(wrapped.otlp_buckets().positive_counts) == 255
    assert ExponentialHistogram.from_dict(json.loads(json.dumps(h.to_dict()))) == h


def test_copy_is_independent() -> None:
    h = recorded(np.array([1.0, 2.0]))
    twin = h.copy()
    twin.record(3.0)
    assert h.count == 2 and twin.count == 3 and h != twin


@pytest.mark.parametrize("module", [mapping_module, exponential_module])
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# -- sparse sides: a few values keep their indices, reads see the same dense counts ---------


def dense_twin(h: ExponentialHistogram) -> ExponentialHistogram:
    """The same data loaded from its OTLP point: dense counts on both sides."""
    point = dataclasses.asdict(h.otlp_buckets())
    return ExponentialHistogram.from_otlp(**point, max_size=h.max_size)


@SETTINGS
@given(signed_samples(max_n=120), signed_samples(max_n=120), st.sampled_from([2048, 16, 4]))
def test_sparse_sides_read_merge_and_downscale_as_dense_ones(
    a: Floats, b: Floats, max_size: int
) -> None:
    small, other = recorded(a, max_size), recorded(b, max_size)
    dense = dense_twin(small)
    assert small == dense and dense == small
    thresholds = np.concatenate((a, b, a * 1.003, [0.0, -1e-3, 1e-3]))
    for threshold in thresholds.tolist():
        assert small.count_at_or_below(threshold) == dense.count_at_or_below(threshold)
    assert small.quantiles(QS) == dense.quantiles(QS)
    # merging sparse into dense, dense into sparse and sparse into sparse agree
    into_dense, into_sparse, both = dense.copy(), small.copy(), small.copy()
    into_dense.merge(other)
    into_sparse.merge(dense_twin(other))
    both.merge(other)
    assert_same_data(into_dense, into_sparse)
    assert_same_data(both, into_sparse)
    assert_same_data(both, recorded(np.concatenate((a, b)), max_size))
    assert small == dense  # merges left their sources unchanged
    for value in b[:8].tolist():  # one value at a time onto a sparse side
        small.record(value, 3)
        dense.record(value, 3)
    assert_same_data(small, dense)


def test_a_few_values_over_many_buckets_cost_their_indices_only() -> None:
    values = np.random.default_rng(3).lognormal(np.log(0.024), 1.0, 20)  # ~300 buckets
    sparse = recorded(values)
    dense = dense_twin(sparse)
    span = len(sparse.otlp_buckets().positive_counts)
    assert span > 200
    assert sparse.nbytes - dense.nbytes < 20 * 4 - span + 16  # 4-byte indices, not a span
    merged = sparse.copy()
    merged.merge(recorded(values[:5] * 1.5))
    assert merged.nbytes - sparse.nbytes <= 5 * 4 + 8  # still one index per value
    crowded = recorded(np.random.default_rng(4).lognormal(np.log(0.024), 1.0, 2_000))
    assert crowded.nbytes < dense_twin(crowded).nbytes + 16  # many values: dense counts
