"""TCPD benchmark of the change-point detector: ``python -m benchmarks.tcpd`` (see README.md).

Every series is streamed point by point through a default :class:`ChangePointDetector`
(flushed at the end), exactly as the regression processor runs it, and scored with
TCPDBench's F1 (margin 5) and covering (``benchmarks/_tcpd_metrics.py``), over all series
and over the univariate real-world ones. Beside it: :func:`detect` on the whole series, the
zero detector, re-implementations of TCPDBench's default amoc/pelt/binseg, and the
leave-one-series-out F1 of the settings (``_tcpd_loso.py``). ``--synthetic`` adds the release
verdict's detection and false-alarm rates (``_tcpd_synthetic.py``). The last line printed is
a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _tcpd_metrics as metrics
from benchmarks._tcpd_loso import leave_one_series_out
from benchmarks._tcpd_reference import REFERENCES, UNIVARIATE_ONLY, Detector, Series
from benchmarks._tcpd_synthetic import synthetic
from otel_perf.processors.regression.changepoint import ChangePointDetector, detect

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TCPD = ROOT.parent / "shared" / "datasets" / "tcpd"


def load_series(path: Path) -> tuple[str, Series]:
    """``(name, values of shape (n_obs, n_dim))`` from a TCPD JSON file; null becomes NaN."""
    data = json.loads(path.read_text())
    columns = [[np.nan if v is None else float(v) for v in s["raw"]] for s in data["series"]]
    return data["name"], np.column_stack(columns)


def univariate(data: dict[str, Series]) -> list[str]:
    """Real-world univariate series without gaps: one column, no NaN, not ``quality_control``
    (synthetic) — the set TCPDBench's univariate tables use."""
    return [
        name
        for name, values in data.items()
        if values.shape[1] == 1 and not np.isnan(values).any() and "quality_control" not in name
    ]


class Online:
    """The processor's way: one point at a time through a detector, then a flush; it keeps
    each series' detection delays and the time spent per point."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.delays: list[int] = []
        self.seconds = 0.0
        self.points = 0

    def __call__(self, values: Series) -> list[int]:
        detector = ChangePointDetector(**self.settings)
        start = time.perf_counter()
        for row in values:
            detector.update(row)
        self.delays += [c.delay for c in detector.declared]  # before the flush: real delays
        detector.flush()
        self.seconds += time.perf_counter() - start
        self.points += values.shape[0]
        return sorted(detector.reported)


def batch(values: Series) -> list[int]:
    """:func:`detect` with its defaults on the whole series."""
    cps: list[int] = detect(values)
    return cps


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


def means(per_series: dict[str, dict[str, Any]], names: list[str]) -> dict[str, float]:
    """Mean F1 and cover over ``names`` (those the detector ran on)."""
    names = [n for n in names if n in per_series]
    return {k: float(np.mean([per_series[n][k] for n in names])) for k in ("f1", "cover")}


def _print_table(data: dict[str, Series], runs: dict[str, dict[str, dict[str, Any]]]) -> None:
    print(f"{'series':20} {'n':>5} {'f1':>6} {'cover':>6}  {'batch f1':>8} {'cover':>6}  cps")
    for name, values in data.items():
        o, b = runs["online"][name], runs["batch"][name]
        print(
            f"{name:20} {values.shape[0]:5d} {o['f1']:6.3f} {o['cover']:6.3f}  "
            f"{b['f1']:8.3f} {b['cover']:6.3f}  {o['cps']}"
        )


def _summaries(
    data: dict[str, Series], runs: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, dict[str, float]]]:
    sets = {"all": list(data), "univariate": univariate(data)}
    print(f"{'detector':14} {'all f1':>7} {'cover':>6}  {'univariate f1':>13} {'cover':>6}")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for k, per_series in runs.items():
        out[k] = {s: means(per_series, names) for s, names in sets.items()}
        a, u = out[k]["all"], out[k]["univariate"]
        ran = "" if len(per_series) == len(data) else f"  ({len(per_series)} series it can run)"
        print(f"{k:14} {a['f1']:7.3f} {a['cover']:6.3f}  {u['f1']:13.3f} {u['cover']:6.3f}{ran}")
    return out


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run, print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_TCPD)
    parser.add_argument("--write-predictions", type=Path, default=None)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--no-loso", action="store_true", help="skip leave-one-series-out")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument(
        "--seed-block", type=int, default=0, help="--synthetic seeds: 0 as before, else fresh"
    )
    args = parser.parse_args(argv)
    annotations = json.loads((args.data / "annotations.json").read_text())
    data = dict(load_series(p) for p in sorted((args.data / "datasets").glob("*.json")))
    online = Online()
    detectors: dict[str, Detector] = {"online": online, "batch": batch, **REFERENCES}
    one_column = {n: v for n, v in data.items() if v.shape[1] == 1}
    runs = {
        name: score(one_column if name in UNIVARIATE_ONLY else data, annotations, d)
        for name, d in detectors.items()
    }
    _print_table(data, runs)
    summary = _summaries(data, runs)
    delay = float(np.median(online.delays)) if online.delays else float("nan")
    us_per_point = online.seconds / max(online.points, 1) * 1e6
    print(f"online: median detection delay {delay:.0f} points, {us_per_point:.0f} µs per point")
    result: dict[str, Any] = {
        **summary["online"]["all"],
        "univariate": summary["online"]["univariate"],
        "per_series": {n: {"f1": r["f1"], "cover": r["cover"]} for n, r in runs["online"].items()},
        **{k: v for k, v in summary.items() if k != "online"},
        "median_delay_points": delay,
        "us_per_point": us_per_point,
    }
    if not args.no_loso:
        result["loso"] = leave_one_series_out(data, annotations, univariate(data))
    if args.write_predictions:
        preds = {n: {k: runs[k][n]["cps"] for k in ("online", "batch")} for n in data}
        args.write_predictions.write_text(json.dumps(preds, indent=1) + "\n")
    if args.synthetic:
        result["synthetic"] = synthetic(args.trials, args.seed_block)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
