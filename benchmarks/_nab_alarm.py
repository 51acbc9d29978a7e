"""Alarm rules measured on NAB in round 7 and left off: ``python -m benchmarks.nab --alarm-rules``.

How the models' scores become an alarm, beside the rule they were measured against (round 6's:
an alert when the largest model score reaches the threshold, then ``refractory`` points of
silence; the second model's weight ``g`` at 0). Each rule acts on
the per-model scores of the default settings after the fact (``_nab_cv.model_scores``), so one
run of the detector serves them all, and is cross-validated leave one category out like the
detector's own grid, with the same 6 decisions (threshold 0.45 / 0.5 / 0.55 × refractory 50 /
100 points): the rule alone, and the rule or the detector's rule chosen per fold ("on / off").

- **adaptive threshold**: the series' threshold rises by ``raise_by`` after an alarm (after
  every alarm, or only after one the series returns from, its score below 0.3, within
  ``quick`` points) and decays back with a half-life of ``half_life`` points.
- **confirmation by the model's history**: a model that has alarmed ``after`` times on this
  series (counts halving every ``half_life`` points; 0: never) alarms again only with a
  second model's score at ``level`` or more.
- **learned combiner**: a logistic regression over each *candidate* alarm (the detector's
  alarms at threshold 0.5, refractory 100) — the log of each model's surprise and of the
  largest, optionally the log of the points since the previous candidate and of how many the
  series has had — fitted in each fold on the training categories' candidates (inside a
  window: positive, its weight the credit plus the miss it saves if it is the window's first;
  outside: negative, its weight the false alarm's cost), the probability it needs chosen on
  the training categories; the held-out category is scored with both.

None beats that rule held out (``processors/anomaly/README.md``, round 7); what did, the
second model's weight (``combine.py``), is in the detector and its grid (``_nab_cv.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from benchmarks import _nab_cv as cv
from benchmarks import _nab_scoring as nab
from otel_perf.processors.anomaly.detector import DetectorSettings

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Rule = Callable[[FloatArray, cv.Decision, int], BoolArray]
DECISIONS = [cv.Decision(t, r, 1.0) for t in cv.THRESHOLDS for r in (50, 100)]
QUICK_LEVEL = 0.3  # a score below this (q > 10⁻³) is "back to normal"


def adaptive_threshold(raise_by: float, half_life: float, quick: int) -> Rule:
    """The rule that raises the series' threshold after an alarm (see the module docstring)."""
    decay = 0.5 ** (1.0 / half_life)

    def rule(scores: FloatArray, decision: cv.Decision, warm_up: int) -> BoolArray:
        combined = cv.combined_scores(scores, decision)
        combined[:warm_up] = 0.0
        mask = np.zeros(len(combined), dtype=np.bool_)
        threshold, last, pending = decision.threshold, -(10**9), -1
        for i, score in enumerate(combined.tolist()):
            threshold = decision.threshold + (threshold - decision.threshold) * decay
            if pending >= 0 and i == pending + quick:
                if (combined[pending + 1 : i + 1] < QUICK_LEVEL).any():
                    threshold += raise_by
                pending = -1
            if i > last + decision.refractory and score >= threshold:
                mask[i], last = True, i
                if quick == 0:
                    threshold += raise_by
                else:
                    pending = i
        return mask

    return rule


def history_confirmation(after: float, level: float, half_life: float) -> Rule:
    """The rule that asks a second model of an often-alarming one (module docstring)."""
    decay = 0.5 ** (1.0 / half_life) if half_life > 0 else 1.0

    def rule(scores: FloatArray, decision: cv.Decision, warm_up: int) -> BoolArray:
        weighted = scores * decision.weights()
        top = cv.combined_scores(scores, decision)
        top[:warm_up] = 0.0
        which = weighted.argmax(axis=1)
        second = np.sort(weighted, axis=1)[:, -2]
        alarms = np.zeros(weighted.shape[1])
        mask = np.zeros(len(top), dtype=np.bool_)
        last, seen = -(10**9), 0
        for i in np.flatnonzero(top >= decision.threshold).tolist():
            alarms *= decay ** (i - seen)
            seen = i
            if i <= last + decision.refractory:
                continue
            model = int(which[i])
            if alarms[model] >= after and second[i] < level:
                continue
            mask[i], last = True, i
            alarms[model] += 1.0
        return mask

    return rule


@dataclass(frozen=True)
class Scored:
    """Raw NAB scores of rule variants over the files: ``(variants, files)``."""

    names: list[str]
    raws: FloatArray


def _raws(table: cv.Table, per_model: list[FloatArray], rule: Rule, d: cv.Decision) -> FloatArray:
    return np.array(
        [
            nab.score_file(sweep, rule(m, d, _warm_up(m)).astype(np.float64), 0.5)
            for sweep, m in zip(table.sweeps, per_model, strict=True)
        ]
    )


def _warm_up(scores: FloatArray) -> int:
    return math.ceil(nab.probationary_length(len(scores)))


def loco(table: cv.Table, raws: FloatArray) -> tuple[float, float, list[int]]:
    """``(pooled, mean of folds, chosen variant per category)`` over the rows of ``raws``."""
    categories = np.array([s.category for s in table.series])
    held_out = np.zeros(raws.shape[1])
    folds, chosen = [], []
    for category in sorted(set(categories.tolist())):
        test = categories == category
        best = int(np.argmax([table.normalised(r, ~test) for r in raws]))
        held_out[test] = raws[best][test]
        chosen.append(best)
        if int(np.asarray(table.n_windows)[test].sum()):
            folds.append(table.normalised(raws[best], test))
    everything = np.ones(raws.shape[1], dtype=np.bool_)
    return table.normalised(held_out, everything), float(np.mean(folds)), chosen


def candidates(scores: FloatArray, warm_up: int) -> list[int]:
    """The detector's alarms at threshold 0.5, refractory 100: what the classifier judges."""
    return np.flatnonzero(cv.detections(scores, cv.Decision(0.5, 100, 1.0), warm_up)).tolist()


def features(scores: FloatArray, rows: Sequence[int], history: bool) -> FloatArray:
    """Per candidate: ``log(1 + 10 s_m)`` per model and of the largest; with ``history`` the
    log of the points since the previous candidate and of the candidates before."""
    surprise = 10.0 * scores[list(rows)] if rows else np.zeros((0, scores.shape[1]))
    out = [np.log1p(surprise), np.log1p(surprise.max(axis=1, initial=0.0))[:, None]]
    if history:
        gaps = np.diff(np.asarray([-(10**4), *rows], dtype=np.float64))
        counts = np.arange(len(rows), dtype=np.float64)
        out += [np.log1p(np.minimum(gaps, 1e4))[:, None], np.log1p(counts)[:, None]]
    return np.hstack(out)


def targets(sweep: nab.FileSweep, rows: Sequence[int]) -> tuple[FloatArray, FloatArray]:
    """``(label, weight)`` per candidate under NAB's costs (module docstring)."""
    labels, weights, first = [], [], set()
    for row in rows:
        window = int(sweep.window[row])
        if not sweep.scored[row]:
            labels.append(0.0)
            weights.append(0.0)
        elif window == nab.OUTSIDE:
            labels.append(0.0)
            weights.append(-float(sweep.sweep_score[row]))
        else:
            labels.append(1.0)
            weights.append(0.0 if window in first else sweep.sweep_score[row] + sweep.fn_weight)
            first.add(window)
    return np.asarray(labels), np.asarray(weights)


def fit_logistic(x: FloatArray, y: FloatArray, weight: FloatArray, l2: float) -> FloatArray:
    """Weighted, L2-penalised logistic regression; ``[bias, *w]`` on standardised ``x``."""
    weight = weight / max(float(weight.sum()), 1e-12)

    def loss(w: FloatArray) -> tuple[float, FloatArray]:
        z = x @ w[1:] + w[0]
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(np.sum(weight * (np.logaddexp(0.0, z) - y * z)) + l2 * np.sum(w[1:] ** 2))
        grad = np.concatenate(
            [[np.sum(weight * (p - y))], x.T @ (weight * (p - y)) + 2 * l2 * w[1:]]
        )
        return value, grad

    start = np.zeros(x.shape[1] + 1)
    return np.asarray(minimize(loss, start, jac=True, method="L-BFGS-B").x)


def learned_combiner(table: cv.Table, per_model: list[FloatArray], history: bool) -> FloatArray:
    """Held-out raw score per file of the classifier fitted fold by fold (module docstring)."""
    rows = [candidates(m, _warm_up(m)) for m in per_model]
    x = [features(m, r, history) for m, r in zip(per_model, rows, strict=True)]
    y = [targets(s, r) for s, r in zip(table.sweeps, rows, strict=True)]
    categories = np.array([s.category for s in table.series])
    held_out = np.zeros(len(per_model))
    for category in sorted(set(categories.tolist())):
        test = categories == category
        train = np.flatnonzero(~test).tolist()
        xs = np.vstack([x[k] for k in train])
        mean, sd = xs.mean(axis=0), xs.std(axis=0) + 1e-9
        w = fit_logistic(
            (xs - mean) / sd,
            np.concatenate([y[k][0] for k in train]),
            np.concatenate([y[k][1] for k in train]),
            1e-2,
        )
        p = [1.0 / (1.0 + np.exp(-(((f - mean) / sd) @ w[1:] + w[0]))) for f in x]
        by_level = []
        for level in np.linspace(0.05, 0.95, 19):
            raws = np.zeros(len(per_model))
            for k, (sweep, r) in enumerate(zip(table.sweeps, rows, strict=True)):
                mask = np.zeros(len(per_model[k]))
                mask[[row for row, q in zip(r, p[k], strict=True) if q >= level]] = 1.0
                raws[k] = nab.score_file(sweep, mask, 0.5)
            by_level.append(raws)
        best = int(np.argmax([table.normalised(r, ~test) for r in by_level]))
        held_out[test] = by_level[best][test]
    return held_out


RULES: dict[str, Rule] = {
    "adaptive threshold +0.1 after every alarm, half-life 2000": adaptive_threshold(0.1, 2000, 0),
    "adaptive threshold +0.2 after a quick return (5 points)": adaptive_threshold(0.2, 2000, 5),
    "confirmation after 3 alarms of the model, second model 0.3": history_confirmation(3, 0.3, 0),
    "confirmation after 5 alarms (half-life 5000), second 0.2": history_confirmation(5, 0.2, 5000),
}


def report(
    series: list[cv.Series], windows: dict[str, list[tuple[float, float]]], cost: nab.CostMatrix
) -> dict[str, dict[str, float]]:
    """Print and return each rule's held-out figures beside the detector's rule."""
    table = cv.Table(series, windows, cost)
    settings = DetectorSettings()
    table.add(settings)
    per_model = table.scores[settings]
    plain = np.stack([table.raw(cv.Candidate(settings, d)) for d in DECISIONS])
    pooled, mean, _ = loco(table, plain)
    print(f"alarm rules (round 7), leave one category out over {len(DECISIONS)} decisions:")
    print(f"  the largest model score (g = 0): pooled {pooled:.2f}, mean of folds {mean:.2f}")
    out = {"detector": {"pooled": round(pooled, 2), "fold_mean": round(mean, 2)}}
    for name, rule in RULES.items():
        raws = np.stack([_raws(table, per_model, rule, d) for d in DECISIONS])
        alone, alone_mean, _ = loco(table, raws)
        either, either_mean, _ = loco(table, np.vstack([plain, raws]))
        print(f"  {name}: pooled {alone:.2f} ({alone_mean:.2f}); on / off {either:.2f}")
        out[name] = {"pooled": round(alone, 2), "on_off": round(either, 2)}
    for history in (False, True):
        held_out = learned_combiner(table, per_model, history)
        everything = np.ones(len(series), dtype=np.bool_)
        value = table.normalised(held_out, everything)
        name = "learned combiner" + (" with the series' alarm history" if history else "")
        print(f"  {name}: pooled {value:.2f}")
        out[name] = {"pooled": round(value, 2)}
    return out
