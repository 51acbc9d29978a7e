"""How the models' scores become one: the most surprised model, and optionally the next.

Each model of the detector scores a point in ``[0, 1]`` (``−log10 q / 10``). Until round 7
the detector's score was the largest, ``s = s_(1)``: one model judging a point rare is
enough. With a *second-model weight* ``g > 0`` the second largest adds to it,

    ``s = min(1, s_(1) + g · s_(2))``,

so a point two models find a little surprising (a step both the one-step predictors and the
shift model see) outscores one only a single model does, at the same threshold; ``g = 0`` is
the maximum exactly. The default ``g = 0.5`` with threshold 0.55 (one model alone then
alerts at ``q = 10⁻⁵·⁵``, two at ``10⁻³·⁷`` each) was chosen by NAB's leave-one-category-out
cross-validation, every fold choosing it over ``g = 0`` (pooled 69.00 → 69.53, three
false-alarm rows fewer of 57, no window lost; with the blocks of a day, 71.40 → 71.96;
``processors/anomaly/README.md``, round 7).

Stateless, constant cost: a sort of the handful of model scores.

>>> combine((0.2, 0.5, 0.0, 0.3, 0.0), 0.0)
0.5
>>> combine((0.2, 0.5, 0.0, 0.3, 0.0), 0.5)
0.65
>>> combine((0.9, 0.8, 0.0, 0.0, 0.0), 0.5)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["combine"]


def combine(scores: Sequence[float], second_weight: float) -> float:
    """``min(1, s_(1) + second_weight · s_(2))`` of per-model ``scores`` in ``[0, 1]``.

    Args:
        scores: one score per model (at least one).
        second_weight: ``g ≥ 0``, the weight of the second largest score; 0 is the maximum.
    """
    if second_weight <= 0.0 or len(scores) < 2:
        return max(scores)
    first, second = sorted(scores)[-2:][::-1]
    return min(1.0, first + second_weight * second)
