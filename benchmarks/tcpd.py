"""TCPD benchmark of the change-point detector: ``python -m benchmarks.tcpd`` (see README.md).

Every series is streamed point by point through a default :class:`ChangePointDetector`
(flushed at the end), exactly as the regression processor runs it, and scored with
TCPDBench's F1 (margin 5) and covering (``benchmarks/_tcpd_metrics.py``). The batch
:func:`detect` on the whole series and the zero detector (no change points) are scored
beside it. ``--synthetic`` adds the detection and false-alarm rates of
:func:`stats.compare`. The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks import _tcpd_metrics as metrics
from otel_perf.processors.regression.changepoint import ChangePointDetector, detect
from otel_perf.processors.regression.stats import compare

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TCPD = ROOT.parent / "shared" / "datasets" / "tcpd"
Series = npt.NDArray[np.float64]
Detector = Callable[[Series], list[int]]


def load_series(path: Path) -> tuple[str, Series]:
    """``(name, values of shape (n_obs, n_dim))`` from a TCPD JSON file; null becomes NaN."""
    data = json.loads(path.read_text())
    columns = [[np.nan if v is None else float(v) for v in s["raw"]] for s in data["series"]]
    return data["name"], np.column_stack(columns)


def online(values: Series) -> list[int]:
    """The processor's way: one point at a time through a default detector, then a flush."""
    detector = ChangePointDetector()
    for row in values:
        detector.update(row)
    detector.flush()
    return sorted(detector.reported)


def batch(values: Series) -> list[int]:
    """:func:`detect` with its defaults on the whole series."""
    cps: list[int] = detect(values)
    return cps


def zero(values: Series) -> list[int]:
    """No change points: TCPDBench's reference floor."""
    return []


def score(
    data: dict[str, Series], annotations: dict[str, Any], detector: Detector
) -> dict[str, dict[str, Any]]:
    """F1 and cover of ``detector`` per series, with its change points."""
    out: dict[str, dict[str, Any]] = {}
    for name, values in data.items():
        cps = detector(values)
        f1 = metrics.f_measure(annotations[name], cps)[0]
        cover = metrics.covering(annotations[name], cps, values.shape[0])
        out[name] = {"f1": f1, "cover": cover, "cps": cps}
    return out


def means(per_series: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Mean F1 and cover over the series."""
    return {k: float(np.mean([r[k] for r in per_series.values()])) for k in ("f1", "cover")}


def synthetic(sizes: tuple[int, ...], shifts: tuple[float, ...], trials: int) -> dict[str, Any]:
    """Outcome rates of :func:`compare` on seeded lognormal latencies (README.md)."""
    table: dict[str, Any] = {}
    for shape in ("scale", "tail"):
        for n in sizes:
            for shift in (0.0, *shifts):
                rates = _rates(shape, n, shift, trials)
                table[f"{shape}/n={n}/p95+{shift:.0%}"] = rates
                print(
                    f"{shape:6} {n:6d} {shift:6.0%} "
                    + " ".join(
                        f"{rates[k]:11.3f}" for k in ("regression", "significant", "inconclusive")
                    ),
                    flush=True,
                )
    return table


def _shifted(rng: np.random.Generator, shape: str, n: int, shift: float) -> Series:
    x = rng.lognormal(np.log(100.0), 0.6, n)  # latency in ms: median 100, p95 ≈ 268
    if shape == "scale":
        return x * (1 + shift)
    # only the slow requests get slower: past the population p80, stretched so p95 moves by shift
    q80, q95 = 100.0 * np.exp(0.6 * 0.8416), 100.0 * np.exp(0.6 * 1.6449)
    stretch = shift * q95 / (q95 - q80)
    stretched: Series = x + stretch * np.clip(x - q80, 0.0, None)
    return stretched


def _rates(shape: str, n: int, shift: float, trials: int) -> dict[str, float]:
    counts = {"regression": 0, "significant": 0, "inconclusive": 0}
    for trial in range(trials):
        rng = np.random.default_rng([n, trial, int(shift * 1000), shape == "tail"])
        verdict = compare(rng.lognormal(np.log(100.0), 0.6, n), _shifted(rng, shape, n, shift))
        counts["regression"] += verdict.outcome == "regression"
        counts["significant"] += verdict.significant and verdict.relative_shift > 0
        counts["inconclusive"] += verdict.outcome == "inconclusive"
    return {k: v / trials for k, v in counts.items()}


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run, print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_TCPD)
    parser.add_argument("--write-predictions", type=Path, default=None)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args(argv)
    annotations = json.loads((args.data / "annotations.json").read_text())
    data = dict(load_series(p) for p in sorted((args.data / "datasets").glob("*.json")))
    runs = {
        name: score(data, annotations, d)
        for name, d in (("online", online), ("batch", batch), ("zero", zero))
    }
    print(f"{'series':20} {'n':>5} {'f1':>6} {'cover':>6}  {'batch f1':>8} {'cover':>6}  cps")
    for name, values in data.items():
        o, b = runs["online"][name], runs["batch"][name]
        print(
            f"{name:20} {values.shape[0]:5d} {o['f1']:6.3f} {o['cover']:6.3f}  "
            f"{b['f1']:8.3f} {b['cover']:6.3f}  {o['cps']}"
        )
    summary = {k: means(v) for k, v in runs.items()}
    for k, m in summary.items():
        print(f"mean {k:15} f1 {m['f1']:.3f} cover {m['cover']:.3f}")
    result: dict[str, Any] = {
        **summary["online"],
        "per_series": {n: {"f1": r["f1"], "cover": r["cover"]} for n, r in runs["online"].items()},
        "zero": summary["zero"],
        "batch": summary["batch"],
    }
    if args.write_predictions:
        preds = {n: {k: runs[k][n]["cps"] for k in ("online", "batch")} for n in data}
        args.write_predictions.write_text(json.dumps(preds, indent=1) + "\n")
    if args.synthetic:
        print(
            f"{'shape':6} {'n':>6} {'p95':>6} {'regression':>11} {'significant':>11} "
            f"{'inconclusive':>11}"
        )
        result["synthetic"] = synthetic((200, 1000, 5000), (0.05, 0.10, 0.20), args.trials)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
