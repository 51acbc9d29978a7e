"""TCPDBench's evaluation metrics: F1 with a margin and the segmentation covering.

Definitions follow van den Burg & Williams, "An Evaluation of Change Point Detection
Algorithms" (arXiv:2003.06222), section 4, as TCPDBench's ``analysis/scripts/metrics.py``
computes them:

* A change point is the 0-based index of the first observation of a new segment, and the
  index 0 is added to every set of predictions and of annotations.
* ``true_positives(T, X)``: each true point ``tau`` (in iteration order) takes the closest
  still-unused prediction ``x`` with ``|tau - x| <= margin``, so no prediction counts twice.
* ``f_measure``: precision ``P = |TP(T*, X)| / |X|`` against the union ``T*`` of all annotators'
  points; recall ``R = (1/K) sum_k |TP(T_k, X)| / |T_k|`` averaged over the K annotators;
  ``F = P R / (alpha R + (1 - alpha) P)`` (``alpha = 0.5`` gives F1).
* ``covering``: ``C(S', S) = (1/T) sum_{A in S} |A| max_{A' in S'} |A n A'| / |A u A'|`` of each
  annotator's segmentation ``S`` by the predicted one ``S'``, averaged over annotators.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MARGIN = 5


def true_positives(
    true_cps: Iterable[int], predicted: Iterable[int], margin: int = MARGIN
) -> set[int]:
    """The true points matched by a prediction within ``margin``, each prediction used once."""
    unused = set(predicted)
    matched: set[int] = set()
    for tau in true_cps:
        close = sorted((abs(tau - x), x) for x in unused if abs(tau - x) <= margin)
        if close:
            matched.add(tau)
            unused.remove(close[0][1])
    return matched


def f_measure(
    annotations: Mapping[Any, Iterable[int]],
    predictions: Iterable[int],
    margin: int = MARGIN,
    alpha: float = 0.5,
) -> tuple[float, float, float]:
    """``(F, precision, recall)`` of ``predictions`` against every annotator (0 added to all)."""
    per_annotator = [set(cps) | {0} for cps in annotations.values()]
    predicted = set(predictions) | {0}
    union = set().union(*per_annotator)
    precision = len(true_positives(union, predicted, margin)) / len(predicted)
    recall = sum(
        len(true_positives(t_k, predicted, margin)) / len(t_k) for t_k in per_annotator
    ) / len(per_annotator)
    f = precision * recall / (alpha * recall + (1 - alpha) * precision)
    return f, precision, recall


def partition_from_cps(locations: Iterable[int], n_obs: int) -> list[set[int]]:
    """Split ``range(n_obs)`` into segments, each change point starting a new one."""
    starts = sorted({c for c in locations if 0 < c < n_obs} | {0})
    bounds = [*starts, n_obs]
    return [set(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def overlap(a: set[int], b: set[int]) -> float:
    """Jaccard index ``|A n B| / |A u B|``."""
    return len(a & b) / len(a | b)


def cover_single(predicted: list[set[int]], truth: list[set[int]]) -> float:
    """Covering ``C(S', S)`` of the segmentation ``truth`` by ``predicted``."""
    n_obs = sum(map(len, truth))
    if n_obs != sum(map(len, predicted)):
        raise ValueError("segmentations cover different numbers of points")
    total = sum(len(r) * max(overlap(r, p) for p in predicted) for r in truth)
    return total / n_obs


def covering(
    annotations: Mapping[Any, Iterable[int]], predictions: Iterable[int], n_obs: int
) -> float:
    """Segmentation covering of every annotator by ``predictions``, averaged over annotators."""
    predicted = partition_from_cps(predictions, n_obs)
    scores = [cover_single(predicted, partition_from_cps(a, n_obs)) for a in annotations.values()]
    return sum(scores) / len(scores)
