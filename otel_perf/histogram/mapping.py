"""The specification's bucket index mapping for base-2 exponential histograms.

At ``scale`` s the base is ``2 ** (2 ** -s)`` and bucket ``i`` holds the magnitudes in
``(base**i, base**(i + 1)]``. Indices agree with what the OpenTelemetry SDKs produce: the
logarithm method with the exact power-of-two correction for s > 0, the exponent method
(``math.frexp``) for s <= 0. Subnormal values are rounded up to the smallest normal value.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_SCALE",
    "MIN_SCALE",
    "Float64Array",
    "Int64Array",
    "base_pow",
    "boundary_tolerance",
    "check_scale",
    "lower_boundary",
    "map_to_index",
    "map_to_indices",
    "quantile_relative_error",
]

MIN_SCALE = -10  # at -10 every normal float64 falls into bucket -1 or 0
MAX_SCALE = 20  # the largest scale whose indices fit an int32 (the OTLP field)

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]

_MIN_NORMAL = sys.float_info.min  # 2 ** -1022
_SCALE_FACTOR = {s: math.ldexp(1 / math.log(2), s) for s in range(1, MAX_SCALE + 1)}


def boundary_tolerance(scale: int) -> float:
    """How close (in bucket units) to a boundary float error can move a value's position.

    ``log(v) * factor`` is within a few ulps of the truth, so ``1e-13`` relative to the
    largest possible position (about ``1075 * 2**scale``) is a wide margin.
    """
    return 1e-9 + 1e-13 * math.ldexp(1100.0, max(scale, 0))


def check_scale(scale: int) -> None:
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be between {MIN_SCALE} and {MAX_SCALE}, got {scale}")


def map_to_index(value: float, scale: int) -> int:
    """The bucket index of a positive finite ``value`` at ``scale``, as the OTel spec maps it.

    Args:
        value: A positive finite magnitude; subnormals count as the smallest normal value.
        scale: The histogram scale, ``MIN_SCALE..MAX_SCALE``.

    Returns:
        ``i`` such that ``base**i < value <= base**(i + 1)``; exact for powers of two and at
        scale <= 0, within float error of a boundary otherwise (as the specification allows).

    >>> map_to_index(1.0, 6), map_to_index(math.nextafter(1.0, 2.0), 6), map_to_index(3.0, 0)
    (-1, 0, 1)
    """
    frac, exp = math.frexp(value if value > _MIN_NORMAL else _MIN_NORMAL)
    if scale <= 0:
        # frexp's fraction is in [0.5, 1): exp - 1 is the base-2 exponent; powers of two sit
        # on their bucket's upper edge, one index lower.
        return (exp - 1 - (frac == 0.5)) >> -scale
    if frac == 0.5:
        return ((exp - 1) << scale) - 1
    index = math.floor(math.log(value) * _SCALE_FACTOR[scale])
    return min(index, (1024 << scale) - 1)


def map_to_indices(values: Float64Array, scale: int) -> Int64Array:
    """:func:`map_to_index` over an array of positive finite values, vectorised.

    The logarithm is numpy's, which may differ from ``math.log`` in the last ulp; the few
    values that land within float error of a boundary (powers of two among them) are mapped
    again with :func:`map_to_index`, so both paths give identical indices.
    """
    clamped = np.maximum(values, _MIN_NORMAL)
    if scale <= 0:
        frac, exp = np.frexp(clamped)
        index: Int64Array = exp.astype(np.int64) - 1 - (frac == 0.5)
        return np.right_shift(index, -scale)
    position = np.log(clamped) * _SCALE_FACTOR[scale]
    indices = np.floor(position).astype(np.int64)
    near = np.abs(position - np.rint(position)) <= boundary_tolerance(scale)
    for i in np.flatnonzero(near):
        indices[i] = map_to_index(float(clamped[i]), scale)
    return np.minimum(indices, (1024 << scale) - 1)


def base_pow(exponent: float, scale: int) -> float:
    """``base ** exponent`` computed as a power of two, exact on whole powers of two."""
    log2 = math.ldexp(exponent, -scale)
    whole = math.floor(log2)
    try:
        return math.ldexp(math.pow(2.0, log2 - whole), whole)
    except OverflowError:
        return math.inf


def lower_boundary(index: int, scale: int) -> float:
    """The exclusive lower edge ``base ** index`` of bucket ``index`` (inf past float64)."""
    return base_pow(float(index), scale)


def quantile_relative_error(scale: int) -> float:
    """The worst relative error of a log-midpoint estimate at ``scale``: ``sqrt(base) - 1``.

    >>> round(quantile_relative_error(6), 5)
    0.00543
    """
    return math.pow(2.0, math.ldexp(0.5, -scale)) - 1.0
