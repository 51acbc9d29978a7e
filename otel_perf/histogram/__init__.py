"""A mergeable latency sketch: the OpenTelemetry base-2 exponential histogram.

The layout is the OTLP ``ExponentialHistogram`` data point, so any point an SDK sends can be
held, merged and exported unchanged, and what we export any OTLP consumer can read.

At ``scale`` s the base is ``2 ** (2 ** -s)`` and bucket ``i`` holds the magnitudes in
``(base**i, base**(i + 1)]``. Positive and negative values have a bucket range each (an
``offset`` and dense counts); exact zeros have their own count. Indices come from the
specification's mapping functions, so they agree with what the OpenTelemetry SDKs produce:
the logarithm method with the exact power-of-two correction for s > 0, the exponent method
(``math.frexp``) for s <= 0. Subnormal values are rounded up to the smallest normal value,
as the specification permits and the Python SDK does.

When a value would need more than ``max_size`` buckets on one side, the histogram downscales
like the SDK aggregation: ``scale -= k`` and every index becomes ``index >> k``, merging
``2 ** k`` neighbours into one bucket.
"""

from otel_perf.histogram.exponential import ExponentialHistogram, OtlpPoint
from otel_perf.histogram.mapping import (
    MAX_SCALE,
    MIN_SCALE,
    lower_boundary,
    map_to_index,
    map_to_indices,
    quantile_relative_error,
)

__all__ = [
    "MAX_SCALE",
    "MIN_SCALE",
    "ExponentialHistogram",
    "OtlpPoint",
    "lower_boundary",
    "map_to_index",
    "map_to_indices",
    "quantile_relative_error",
]
