"""The exponential histogram itself: recording, merging, quantiles and OTLP exchange."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_perf.histogram.buckets import (
    Buckets,
    buckets_from,
    count_dtype,
    fitting_size,
    scale_change,
    with_counts,
    with_indices,
)
from otel_perf.histogram.mapping import (
    MAX_SCALE,
    Float64Array,
    Int64Array,
    base_pow,
    check_scale,
    lower_boundary,
    map_to_index,
    map_to_indices,
)

__all__ = ["ExponentialHistogram", "OtlpPoint"]

_EMPTY_FLOATS: Float64Array = np.zeros(0, dtype=np.float64)
_EMPTY_INTS: Int64Array = np.zeros(0, dtype=np.int64)
_NEG_INF = -math.inf  # shared: ``-math.inf`` in __init__ would box a new float per histogram


@dataclass(frozen=True, slots=True)
class OtlpPoint:
    """The fields of an OTLP exponential histogram point (``zero_threshold`` is 0).

    ``sum`` is None when unknown; ``min`` and ``max`` are None for an empty histogram.
    ``ExponentialHistogram.from_otlp(**dataclasses.asdict(point))`` loads it back.
    """

    scale: int
    zero_count: int
    positive_offset: int
    positive_counts: tuple[int, ...]
    negative_offset: int
    negative_counts: tuple[int, ...]
    count: int
    sum: float | None
    min: float | None
    max: float | None


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


class ExponentialHistogram:
    """A base-2 exponential histogram in the OpenTelemetry format, mergeable and compact.

    Quantiles are estimated at the log-midpoint ``base ** (i + 0.5)`` of the bucket holding
    the wanted rank, clamped to ``[min, max]``. A bucket spans a ratio of ``base``, so the
    estimate is within a factor ``sqrt(base)`` of the true value: relative error at most
    ``2 ** (2 ** -scale / 2) - 1``. At the default scale 6 the bucket ratio is
    ``2 ** (1/64)`` (1.09%) and the error at most ``2 ** (1/128) - 1``, about 0.54%; 2048
    buckets at scale 6 span 32 octaves (9.6 decades) before a downscale halves the resolution.

    Args:
        max_size: The most buckets one side may hold (at least 2).
        max_scale: The starting (and finest) scale, ``MIN_SCALE..MAX_SCALE``.

    Equality compares the recorded data (scale, buckets, count, sum, min, max), not
    ``max_size`` or ``max_scale``. Sums are float accumulations, so the same values recorded
    in another order or grouping can differ from each other in ``sum`` by rounding.

    >>> import numpy as np
    >>> from otel_perf.histogram import quantile_relative_error
    >>> latencies_ms = np.random.default_rng(7).lognormal(mean=3.0, sigma=0.5, size=10_000)
    >>> h = ExponentialHistogram()
    >>> h.record_many(latencies_ms)
    >>> h.scale, h.count
    (6, 10000)
    >>> exact = float(np.quantile(latencies_ms, 0.99, method="inverted_cdf"))
    >>> abs(h.quantile(0.99) / exact - 1) <= quantile_relative_error(h.scale)
    True
    >>> h.count_at_or_below(h.max)
    10000.0
    """

    __slots__ = (
        "_count",
        "_max",
        "_max_scale",
        "_max_size",
        "_min",
        "_negative",
        "_positive",
        "_scale",
        "_sum",
        "_zero_count",
    )

    def __init__(self, max_size: int = 2048, max_scale: int = 6) -> None:
        if max_size < 2:
            raise ValueError(f"max_size must be at least 2, got {max_size}")
        check_scale(max_scale)
        self._max_size = max_size
        self._max_scale = max_scale
        self._scale = max_scale
        self._positive: Buckets | None = None  # allocated when a value first lands there
        self._negative: Buckets | None = None
        self._zero_count = 0
        self._count = 0
        self._sum = 0.0
        self._min = math.inf  # +-inf while empty; the properties report NaN then
        self._max = _NEG_INF

    # -- recording ---------------------------------------------------------------------

    def record(self, value: float, count: int = 1) -> None:
        """Record ``value`` ``count`` times.

        Raises:
            ValueError: If ``value`` is not finite or ``count`` is negative.
        """
        if not math.isfinite(value) or count < 0:
            raise ValueError(f"cannot record value {value!r} with count {count}")
        if count == 0:
            return
        self._count += count
        self._sum += value * count
        self._min, self._max = min(self._min, value), max(self._max, value)
        if value == 0:
            self._zero_count += count
            return
        side = self._positive if value > 0 else self._negative
        index = map_to_index(abs(value), self._scale)
        if side is None:  # a single bucket always fits
            side = Buckets(index, np.array([count], count_dtype(count)), count)
            if value > 0:
                self._positive = side
            else:
                self._negative = side
            return
        change = side.scale_change(index, index, self._max_size, self._scale)
        if change:
            self._downscale(change)
            index = map_to_index(abs(value), self._scale)
        side.increment(index, count)

    def record_many(self, values: npt.ArrayLike) -> None:
        """Record every value of an array at once (the hot path: one numpy pass per step).

        Buckets, scale and sum come out exactly as from ``record`` called on each value in turn.

        Raises:
            ValueError: If any value is not finite; nothing is recorded then.
        """
        data = np.asarray(values, dtype=np.float64).ravel()
        if data.size == 0:
            return
        low, high = float(data.min()), float(data.max())  # NaN propagates to both
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("cannot record non-finite values")
        positive, negative = (data, _EMPTY_FLOATS) if low > 0 else _split_signs(data)
        self._record_magnitudes(positive, negative)
        self._zero_count += data.size - positive.size - negative.size
        self._count += data.size
        # added in turn, as ``record`` adds them (a pairwise sum could differ in the last bit)
        self._sum = float(np.add.accumulate(np.concatenate(([self._sum], data)))[-1])
        self._min, self._max = min(self._min, low), max(self._max, high)

    def _fill(self, positive: Buckets, total: float, low: float, high: float) -> None:
        """Take ``positive`` (and its values' sum, min and max) as an empty histogram's data."""
        self._positive, self._count = positive, positive.total
        self._sum, self._min, self._max = total, low, high

    def _record_magnitudes(self, positive: Float64Array, negative: Float64Array) -> None:
        pos_index = _indices(positive, self._scale)
        neg_index = _indices(negative, self._scale)
        change = max(
            self._change_for(self._positive, pos_index), self._change_for(self._negative, neg_index)
        )
        if change:
            # Like the SDK: downscale, then map the new values at the new scale.
            self._downscale(change)
            pos_index = _indices(positive, self._scale)
            neg_index = _indices(negative, self._scale)
        self._positive = with_indices(self._positive, pos_index)
        self._negative = with_indices(self._negative, neg_index)

    def _change_for(self, side: Buckets | None, indices: Int64Array) -> int:
        if indices.size == 0:
            return 0
        low, high = int(indices.min()), int(indices.max())
        return scale_change(side, low, high, self._max_size, self._scale)

    def _downscale(self, change: int) -> None:
        if change:
            if self._positive is not None:
                self._positive.downscale(change)
            if self._negative is not None:
                self._negative.downscale(change)
            self._scale -= change

    def merge(self, other: ExponentialHistogram) -> None:
        """Add ``other``'s data into this histogram (in place).

        Both are brought to the smaller scale, and further down if the combined range would
        exceed this histogram's ``max_size``; ``other`` is left unchanged.
        """
        if other._count == 0:
            return
        scale = min(self._scale, other._scale)
        positive = _downscaled(other._positive, other._scale - scale)
        negative = _downscaled(other._negative, other._scale - scale)
        self._downscale(self._scale - scale)
        change = max(
            self._merge_change(self._positive, positive),
            self._merge_change(self._negative, negative),
        )
        self._downscale(change)
        positive, negative = _downscaled(positive, change), _downscaled(negative, change)
        # ``other``'s own sides are copied; sides downscaled above are new and taken over.
        self._positive = with_counts(self._positive, positive, positive is not other._positive)
        self._negative = with_counts(self._negative, negative, negative is not other._negative)
        self._zero_count += other._zero_count
        self._count += other._count
        self._sum += other._sum
        self._min, self._max = min(self._min, other._min), max(self._max, other._max)

    def _merge_change(self, mine: Buckets | None, theirs: Buckets | None) -> int:
        if theirs is None:
            return 0
        return scale_change(mine, theirs.offset, theirs.end - 1, self._max_size, self._scale)

    def copy(self) -> ExponentialHistogram:
        """An independent copy (same configuration, same data)."""
        twin = ExponentialHistogram(self._max_size, self._max_scale)
        twin._scale, twin._zero_count, twin._count = self._scale, self._zero_count, self._count
        twin._sum, twin._min, twin._max = self._sum, self._min, self._max
        twin._positive, twin._negative = _copied(self._positive), _copied(self._negative)
        return twin

    def _parts(
        self,
    ) -> tuple[int, int, int, int, int, float, float, float, Buckets | None, Buckets | None]:
        """Everything held, for :class:`~otel_perf.histogram.block.HistogramBlock` (the
        sides are this histogram's own: read only)."""
        return (
            self._scale,
            self._max_scale,
            self._max_size,
            self._zero_count,
            self._count,
            self._sum,
            self._min,
            self._max,
            self._positive,
            self._negative,
        )

    @classmethod
    def _assemble(
        cls,
        max_size: int,
        max_scale: int,
        scale: int,
        zero_count: int,
        count: int,
        total: float,
        low: float,
        high: float,
        positive: Buckets | None,
        negative: Buckets | None,
    ) -> ExponentialHistogram:
        """A histogram of :meth:`_parts` (the sides are taken over)."""
        histogram = cls(max_size, max_scale)
        histogram._scale, histogram._zero_count, histogram._count = scale, zero_count, count
        histogram._sum, histogram._min, histogram._max = total, low, high
        histogram._positive, histogram._negative = positive, negative
        return histogram

    # -- reading -----------------------------------------------------------------------

    def quantile(self, q: float) -> float:
        """The estimated value at rank ``ceil(q * count)`` (numpy's ``"inverted_cdf"``).

        The estimate is the log-midpoint ``base ** (i + 0.5)`` of the bucket holding that
        rank (0 for the zero bucket, mirrored for negatives), clamped to ``[min, max]``.
        Ranks 1 and ``count`` (so ``q = 0`` and ``q = 1``) give ``min`` and ``max`` exactly.

        Args:
            q: The quantile, between 0 and 1.

        Returns:
            The estimate, or NaN if the histogram is empty.

        Raises:
            ValueError: If ``q`` is outside ``[0, 1]``.
        """
        return self.quantiles([q])[0]

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        """:meth:`quantile` for several ``qs`` (the cumulative counts are built once)."""
        wanted = list(qs)
        for q in wanted:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile must be between 0 and 1, got {q}")
        if self._count == 0:
            return [math.nan] * len(wanted)
        negative, positive = self._negative, self._positive
        # Most negative first; ``end`` is one past the highest negative index.
        neg_cumulative = _EMPTY_INTS if negative is None else negative.cumulative(reverse=True)
        pos_cumulative = _EMPTY_INTS if positive is None else positive.cumulative()
        neg_end = 0 if negative is None else negative.end
        pos_offset = 0 if positive is None else positive.offset
        return [
            self._quantile(q, neg_cumulative, neg_end, pos_cumulative, pos_offset) for q in wanted
        ]

    def _quantile(
        self,
        q: float,
        neg_cumulative: Int64Array,
        neg_end: int,
        pos_cumulative: Int64Array,
        pos_offset: int,
    ) -> float:
        rank = max(1, math.ceil(q * self._count))
        if rank == 1 or rank == self._count:  # the first and last order statistics are known
            return self._min if rank == 1 else self._max
        neg_total = int(neg_cumulative[-1]) if neg_cumulative.size else 0
        if rank <= neg_total:
            index = neg_end - 1 - int(np.searchsorted(neg_cumulative, rank))
            estimate = -base_pow(index + 0.5, self._scale)
        elif rank <= neg_total + self._zero_count:
            estimate = 0.0
        else:
            rank -= neg_total + self._zero_count
            index = pos_offset + int(np.searchsorted(pos_cumulative, rank))
            estimate = base_pow(index + 0.5, self._scale)
        return min(max(estimate, self._min), self._max)

    def count_at_or_below(self, threshold: float) -> float:
        """How many recorded values are ``<= threshold`` (an SLO's "good" events).

        Exact when ``threshold`` is a bucket boundary ``base ** i``, below ``min`` or at or
        above ``max``. Inside a bucket the count is interpolated log-linearly: values are
        taken as spread evenly over ``log(value)`` across the bucket, so a threshold a
        fraction ``f`` of the way from ``log(lower)`` to ``log(upper)`` counts ``f`` of the
        bucket. For a negative threshold on a boundary, values exactly equal to it are left
        out (latencies are positive, so this never matters for them).

        Raises:
            ValueError: If ``threshold`` is NaN.
        """
        if math.isnan(threshold):
            raise ValueError("threshold must not be NaN")
        if self._count == 0 or threshold < self._min:
            return 0.0
        if threshold >= self._max:
            return float(self._count)
        negative, positive = self._negative, self._positive
        negatives = 0 if negative is None else negative.total
        if threshold < 0:
            if negative is None:  # only when an OTLP point's min claimed a negative value
                return 0.0
            return negatives - negative.count_at_or_below(-threshold, self._scale)
        at_or_below_zero = float(negatives + self._zero_count)
        if threshold == 0 or positive is None:
            return at_or_below_zero
        return at_or_below_zero + positive.count_at_or_below(threshold, self._scale)

    def counts_at_or_below(self, thresholds: Sequence[float]) -> list[float]:
        """:meth:`count_at_or_below` of each threshold, the same figures, with the
        buckets' running totals taken once (an exporter's bucket bounds, every interval).

        Raises:
            ValueError: If a threshold is NaN.
        """
        positive = self._positive
        if positive is None or not self._count:
            return [self.count_at_or_below(t) for t in thresholds]
        bounds = tuple(thresholds)
        found = positive.counts_at_or_below(bounds, self._scale)
        negative, low, high, count = self._negative, self._min, self._max, float(self._count)
        below = float((0 if negative is None else negative.total) + self._zero_count)
        return [
            0.0
            if t < low
            else count
            if t >= high
            else below + inside
            if t > 0
            else self.count_at_or_below(t)  # at or below zero, or NaN (which raises)
            for t, inside in zip(bounds, found, strict=True)
        ]

    @property
    def scale(self) -> int:
        """The current scale (``max_scale`` until a downscale)."""
        return self._scale

    @property
    def max_size(self) -> int:
        return self._max_size

    @property
    def max_scale(self) -> int:
        return self._max_scale

    @property
    def count(self) -> int:
        return self._count

    @property
    def zero_count(self) -> int:
        return self._zero_count

    @property
    def zero_threshold(self) -> float:
        """Values with magnitude at or below this go to ``zero_count``; always 0 here."""
        return 0.0

    @property
    def sum(self) -> float:
        """The sum of the recorded values (NaN if an OTLP point did not carry it)."""
        return self._sum

    @property
    def min(self) -> float:
        """The smallest value recorded (NaN when empty)."""
        return self._min if self._count else math.nan

    @property
    def max(self) -> float:
        """The largest value recorded (NaN when empty)."""
        return self._max if self._count else math.nan

    @property
    def mean(self) -> float:
        """``sum / count`` (NaN when empty)."""
        return self._sum / self._count if self._count else math.nan

    @property
    def is_empty(self) -> bool:
        return self._count == 0

    @property
    def nbytes(self) -> int:
        """Approximate bytes held: this object and its count arrays."""
        return sys.getsizeof(self)

    def __sizeof__(self) -> int:
        size = object.__sizeof__(self)
        for side in (self._positive, self._negative):
            if side is not None:
                size += side.sizeof()
        return size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExponentialHistogram):
            return NotImplemented
        return (
            (self._scale, self._zero_count, self._count)
            == (other._scale, other._zero_count, other._count)
            and _same_float(self._sum, other._sum)
            and (self._min, self._max) == (other._min, other._max)
            and _same_side(self._positive, other._positive)
            and _same_side(self._negative, other._negative)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        pos, neg = self._positive, self._negative
        return (
            f"ExponentialHistogram(scale={self._scale}, count={self._count}, "
            f"zero_count={self._zero_count}, min={self.min}, max={self.max}, "
            f"positive={pos.counts.size if pos else 0} buckets@{pos.offset if pos else 0}, "
            f"negative={neg.counts.size if neg else 0} buckets@{neg.offset if neg else 0})"
        )

    # -- exchange ----------------------------------------------------------------------

    def otlp_buckets(self) -> OtlpPoint:
        """The OTLP point fields for export (an empty side has offset 0 and no counts)."""
        empty = self._count == 0
        positive_offset, positive_counts = _side_counts(self._positive)
        negative_offset, negative_counts = _side_counts(self._negative)
        return OtlpPoint(
            scale=self._scale,
            zero_count=self._zero_count,
            positive_offset=positive_offset,
            positive_counts=positive_counts,
            negative_offset=negative_offset,
            negative_counts=negative_counts,
            count=self._count,
            sum=None if math.isnan(self._sum) else self._sum,
            min=None if empty else self._min,
            max=None if empty else self._max,
        )

    @classmethod
    def from_otlp(
        cls,
        scale: int,
        zero_count: int,
        positive_offset: int,
        positive_counts: Sequence[int],
        negative_offset: int,
        negative_counts: Sequence[int],
        count: int,
        sum: float | None,
        min: float | None,
        max: float | None,
        *,
        max_size: int = 2048,
    ) -> ExponentialHistogram:
        """Load an OTLP exponential histogram point (``zero_threshold`` 0).

        Zero counts at either end of a side are dropped (the same data, canonical form).
        ``max_size`` is raised to the point's widest side if needed; ``max_scale`` is the
        point's scale. OTLP's ``min``/``max`` are optional: when missing they are set to the
        outer edges of the outermost non-empty buckets, the tightest bounds the buckets give.

        Raises:
            ValueError: On a scale out of range, negative counts or a ``count`` that is not
                ``zero_count`` plus the bucket counts.
        """
        positive = buckets_from(positive_offset, positive_counts)
        negative = buckets_from(negative_offset, negative_counts)
        in_buckets = (positive.total if positive else 0) + (negative.total if negative else 0)
        if zero_count < 0 or count != zero_count + in_buckets:
            raise ValueError(f"count {count} is not zero_count plus the bucket counts")
        histogram = cls(fitting_size(max_size, positive, negative), scale)
        histogram._positive, histogram._negative = positive, negative
        histogram._zero_count, histogram._count = zero_count, count
        histogram._sum = math.nan if sum is None else float(sum)
        if count:
            histogram._min = histogram._edge(lowest=True) if min is None else float(min)
            histogram._max = histogram._edge(lowest=False) if max is None else float(max)
        return histogram

    def _edge(self, lowest: bool) -> float:
        """The outer edge of the lowest (or highest) non-empty bucket, or 0 for zeros."""
        near, far = (self._negative, self._positive) if lowest else (self._positive, self._negative)
        sign = -1.0 if lowest else 1.0
        if near is not None:
            return sign * lower_boundary(near.end, self._scale)
        if self._zero_count or far is None:
            return 0.0
        return -sign * lower_boundary(far.offset, self._scale)

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-ready form that :meth:`from_dict` restores exactly."""
        point = self.otlp_buckets()
        return {
            "scale": point.scale,
            "max_scale": self._max_scale,
            "max_size": self._max_size,
            "zero_count": point.zero_count,
            "count": point.count,
            "sum": point.sum,
            "min": point.min,
            "max": point.max,
            "positive": {"offset": point.positive_offset, "counts": list(point.positive_counts)},
            "negative": {"offset": point.negative_offset, "counts": list(point.negative_counts)},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExponentialHistogram:
        """Restore a histogram from :meth:`to_dict` output.

        Raises:
            ValueError: On inconsistent counts or an out-of-range scale or max_scale.
            KeyError: On a missing field.
        """
        histogram = cls.from_otlp(
            d["scale"],
            d["zero_count"],
            d["positive"]["offset"],
            d["positive"]["counts"],
            d["negative"]["offset"],
            d["negative"]["counts"],
            d["count"],
            d["sum"],
            d["min"],
            d["max"],
            max_size=d.get("max_size", 2048),
        )
        max_scale = d.get("max_scale", histogram._scale)
        if not histogram._scale <= max_scale <= MAX_SCALE:
            raise ValueError(f"max_scale {max_scale} is below scale {histogram._scale} or too big")
        histogram._max_scale = max_scale
        return histogram


def _split_signs(data: Float64Array) -> tuple[Float64Array, Float64Array]:
    """Positive values and the magnitudes of negative ones (zeros are in neither)."""
    return data[data > 0], -data[data < 0]


def _indices(magnitudes: Float64Array, scale: int) -> Int64Array:
    """Bucket indices of ``magnitudes`` (numpy's per-call cost skipped when there are none)."""
    return map_to_indices(magnitudes, scale) if magnitudes.size else _EMPTY_INTS


def _downscaled(side: Buckets | None, change: int) -> Buckets | None:
    return None if side is None else side.downscaled(change)


def _copied(side: Buckets | None) -> Buckets | None:
    return None if side is None else side.copy()


def _same_side(a: Buckets | None, b: Buckets | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.same(b)


def _side_counts(side: Buckets | None) -> tuple[int, tuple[int, ...]]:
    """A side's OTLP offset and counts (offset 0 and no counts when empty)."""
    return (0, ()) if side is None else (side.offset, tuple(side.counts.tolist()))
