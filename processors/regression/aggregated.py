"""Latency samples recovered from an aggregated interval's histogram (the analysis tier).

Version comparisons rank raw samples; the analysis tier holds per-version exponential
histograms instead. Each interval gives up to ``limit`` values at evenly spaced ranks
(``quantile((i + 0.5) / n)``: within the histogram's relative error of the true order
statistics), in a seeded random order so that any first or last few — what the version
tracker keeps — are an unbiased subsample. Verdicts therefore match the span-fed ones
for shifts well above the bucket width (about 1 % at scale 6), not p-value for p-value.
"""

from __future__ import annotations

import random
import zlib

from otel_perf.histogram import ExponentialHistogram


def samples_ms(hist: ExponentialHistogram, limit: int, seed: str) -> list[float]:
    """Up to ``limit`` representative values (ms) of ``hist``, shuffled with ``seed``."""
    n = min(hist.count, limit)
    if n <= 0:
        return []
    values = [v * 1000 for v in hist.quantiles([(i + 0.5) / n for i in range(n)])]
    random.Random(zlib.crc32(seed.encode())).shuffle(values)
    return values


def ordered_versions(versions: dict[str, object], current: str | None) -> list[str]:
    """The service's current version first: a new one seen in the same interval follows."""
    return sorted(versions, key=lambda v: (v != current, v))
