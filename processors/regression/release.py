"""A release's verdict: the fixed-sample judge and the sequential test together."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy.typing as npt

from otel_perf.processors.regression.sequential import msprt
from otel_perf.processors.regression.stats import (
    FALSE_ALARM_RATE,
    SEQUENTIAL_SHARE,
    Direction,
    Verdict,
    compare,
)


def judge_release(
    baseline: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    false_alarm_rate: float = FALSE_ALARM_RATE,
    direction: Direction = "up",
    **settings: Any,
) -> Verdict:
    """:func:`compare`, plus the sequential test (:mod:`sequential`) over ``current`` in
    arrival order, so a large regression is called before ``min_samples`` or a full window.

    The sequential test spends ``SEQUENTIAL_SHARE`` of ``false_alarm_rate``; ``settings`` go
    to :func:`compare`. A sequential call names the sample count it needed; it needs a
    baseline of ``min_samples`` values, not the current side.
    """
    verdict = compare(
        baseline, current, false_alarm_rate=false_alarm_rate, direction=direction, **settings
    )
    if verdict.outcome == "regression" or verdict.n_baseline < settings.get("min_samples", 30):
        return verdict  # already called, or too small a baseline to know its spread
    seq = msprt(
        baseline, current, alpha=SEQUENTIAL_SHARE * false_alarm_rate, up_is_worse=direction == "up"
    )
    if not seq.called:
        return verdict
    p_adjusted = seq.p_value / SEQUENTIAL_SHARE
    reason = (
        f"regression called by the sequential test after {seq.samples} samples (mSPRT on "
        f"log latency, always-valid p={seq.p_value:.2g}); false-alarm chance {p_adjusted:.2g}"
        f" (limit {false_alarm_rate:.2g}); {verdict.reason}"
    )
    return replace(
        verdict,
        outcome="regression",
        reason=reason,
        p_adjusted=p_adjusted,
        certainty=1 - p_adjusted,
        samples_to_verdict=seq.samples,
    )
