"""The anomaly detector's saved document and its models' parts, declared once.

Read and written by :mod:`otel_perf.codec`: a document that does not fit names the path
(``.predictors.profiles[1].means[3]``). Each model turns itself into its part
(``model.saved()``) and back (``Model.resume(part)``); :class:`SavedDetector` is the one
document of a detector, what ``Detector.to_dict`` writes. The field names are those the
hand-written ``to_dict`` of each model wrote, so documents saved before load unchanged; a
field that came later has the default that a document without it meant.

A value that may be infinite or not yet seen (a clip, the last point) is saved as ``null``
for ``inf``/``nan``: JSON has neither.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from otel_perf.codec import StateError

Direction = Literal["both", "up", "down"]
DIRECTIONS = ("both", "up", "down")

#: the detector document's version; before 2 (the single-model detector) it starts afresh
VERSION = 4
CONTINUED = (2, 3, 4)


@dataclass(slots=True)
class SavedTail:
    """``likelihood.GaussianTail``: an exponentially weighted Gaussian fit."""

    alpha: float
    min_var: float
    n: int
    mean: float
    var: float


@dataclass(slots=True)
class SavedLikelihood:
    """``likelihood.Likelihood``: the short average and its long fit."""

    short_span: int
    average: float
    fit: SavedTail


@dataclass(slots=True)
class SavedRecurrence:
    """``likelihood.Recurrence``: up-crossing counts per level and when each was counted."""

    alpha: float
    free: int
    min_rate: float
    upcrossings: list[float]
    stamps: list[int]
    n: int
    last: float
    weight: float | None = None  # saved before it was kept: the closed form


@dataclass(slots=True)
class SavedProfile:
    """``seasonal.SeasonalProfile``: one mean and one visit count per phase bucket."""

    period_s: float
    n_buckets: int
    alpha: float
    min_visits: int
    means: list[float]
    visits: list[int]


@dataclass(slots=True)
class SavedBank:
    """``models.PredictorBank``: the predictors' state and their running errors."""

    seasonality_s: list[float]
    direction: str
    level_alpha: float
    error_alpha: float
    seasonal_alpha: float
    max_buckets: int
    n: int
    last_t_s: float | None
    last_x: float | None
    level: float
    magnitude: float
    slow_level: float
    profiles: list[SavedProfile]
    errors: list[float]
    error_counts: list[int]
    clip: float | None = None  # None: no clip (inf)
    clip_run: int = 1
    judge_ratio: float = 1.0
    outside: int = 0

    def __post_init__(self) -> None:
        direction(self.direction)


@dataclass(slots=True)
class SavedShift:
    """``models.MultiScaleZ``: the fast and slow means and the deviation."""

    fast_alpha: float
    slow_alpha: float
    direction: str
    n: int
    fast: float
    slow: float
    deviation: float
    magnitude: float
    clip: float | None = None  # None: no clip (inf)

    def __post_init__(self) -> None:
        direction(self.direction)


@dataclass(slots=True)
class SavedFlat:
    """``models.FlatLine``: the repeat rate and the runs."""

    repeat_alpha: float
    run_decay: float
    n: int
    last_x: float | None
    repeat_rate: float
    run: int
    longest_run: float
    reported: bool


@dataclass(slots=True)
class SavedRange:
    """``models.RangeNovelty``: the extremes seen (None before the first point)."""

    tolerance: float
    direction: str
    min_points: int
    n: int
    lo: float | None
    hi: float | None

    def __post_init__(self) -> None:
        direction(self.direction)


@dataclass(slots=True)
class SavedRatio:
    """``ratio.CountRatio``: the decayed error and call counts, slow and fast."""

    alpha: float
    fast_alpha: float
    direction: str
    n: int
    errors: float
    calls: float
    fast_errors: float
    fast_calls: float
    dispersion: float

    def __post_init__(self) -> None:
        direction(self.direction)


@dataclass(slots=True)
class SavedBlocks:
    """``coarse.BlockMeans``: the block-mean bank, its likelihood, the open block."""

    block: int
    bank: SavedBank
    likelihood: SavedLikelihood
    total: float
    count: int
    duration_s: float = 0.0  # a block of a duration (0: of ``block`` points)
    step_s: float = 0.0  # its sampling step, once measured
    gaps: list[float] = field(default_factory=list)  # while its block is not yet known
    last_t_s: float | None = None


@dataclass(slots=True)
class SavedStart:
    """What every detector document holds, whatever its version: the settings (as
    ``DetectorSettings`` fields; ones since removed are ignored) and the seed."""

    config: dict[str, Any]
    seed: int


@dataclass(slots=True)
class SavedDetector:
    """``detector.Detector``: its settings and every model's part.

    Saved by version 2 (no recurrences), 3 (no spikes, no count ratio) or before the block
    means: those parts are ``None`` and start afresh.
    """

    version: int
    config: dict[str, Any]
    seed: int
    n: int
    predictors: SavedBank
    shift: SavedShift
    flat: SavedFlat
    range: SavedRange
    predictor_likelihood: SavedLikelihood
    shift_likelihood: SavedLikelihood
    cooldown: int
    coarse: list[SavedBlocks] | None = None
    recurrences: list[SavedRecurrence] | None = None
    spikes: SavedRecurrence | None = None
    raw: list[float] | None = None
    ratio: SavedRatio | None = None


def direction(value: str) -> Direction:
    """A saved ``direction``, checked (on decoding, so the error names the model)."""
    if value not in DIRECTIONS:
        raise StateError(".direction", f"expected 'both', 'up' or 'down', got {value!r}")
    return typing.cast(Direction, value)


def finite_or_none(value: float) -> float | None:
    """``value``, or None for ``inf``/``nan`` (JSON has neither)."""
    return value if math.isfinite(value) else None


def or_inf(value: float | None) -> float:
    """A saved clip: None is no clip."""
    return math.inf if value is None else value


def or_nan(value: float | None) -> float:
    """A saved last point: None is none yet."""
    return math.nan if value is None else value
