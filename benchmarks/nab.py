"""NAB benchmark of the anomaly detector: ``python -m benchmarks.nab`` (see README.md).

Every file is run through a fresh :class:`Detector`, one point at a time via ``score_one`` with
epoch-second timestamps, exactly as the anomaly processor runs it, and scored with NAB's rules
(``benchmarks/_nab_scoring.py``) at the detector's default threshold and at the threshold NAB's
optimiser picks per profile. The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _nab_scoring as nab
from otel_perf.processors.anomaly.detector import DEFAULT_THRESHOLD, Detector

DETECTOR_NAME = "otelperf"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NAB = ROOT.parent / "shared" / "datasets" / "nab"


@dataclass
class FileRun:
    """One data file and the detector's scores for it."""

    name: str  # <category>/<file>.csv
    raw_timestamps: list[str]
    timestamps_s: list[float]
    values: list[float]
    scores: np.ndarray[Any, np.dtype[np.float64]]


def run_file(path: Path, name: str) -> tuple[FileRun, float]:
    """Run a fresh detector over one file; returns the run and the seconds spent scoring."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    raw = [row["timestamp"] for row in rows]
    timestamps_s = [nab.parse_timestamp_s(t) for t in raw]
    values = [float(row["value"]) for row in rows]
    detector = Detector(seed=0)
    score_one = detector.score_one
    start = time.perf_counter()
    scores = [score_one(t, x) for t, x in zip(timestamps_s, values, strict=True)]
    elapsed = time.perf_counter() - start
    return FileRun(name, raw, timestamps_s, values, np.asarray(scores)), elapsed


def write_scores(out: Path, run: FileRun) -> None:
    """NAB results layout: OUT/<detector>/<category>/<detector>_<file>.csv."""
    category, file = run.name.split("/")
    target = out / DETECTOR_NAME / category / f"{DETECTOR_NAME}_{file}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp", "value", "anomaly_score"])
        for t, x, s in zip(run.raw_timestamps, run.values, run.scores.tolist(), strict=True):
            writer.writerow([t, repr(x), repr(s)])


def evaluate(
    runs: list[FileRun],
    windows: dict[str, list[tuple[float, float]]],
    cost: nab.CostMatrix,
    threshold: float,
) -> tuple[float, float, float, dict[str, float]]:
    """``(normalised score at threshold, optimised score, its threshold, raw score per file)``."""
    sweeps = [nab.sweep_file(r.timestamps_s, windows[r.name], cost) for r in runs]
    per_file = {
        r.name: nab.score_file(s, r.scores, threshold) for r, s in zip(runs, sweeps, strict=True)
    }
    n_windows = sum(len(windows[r.name]) for r in runs)
    best_threshold, best_raw = nab.optimise_threshold(sweeps, [r.scores for r in runs])
    return (
        nab.normalise(sum(per_file.values()), n_windows, cost),
        nab.normalise(best_raw, n_windows, cost),
        best_threshold,
        per_file,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the scores; the last line is JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nab", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_NAB / "data")
    parser.add_argument(
        "--labels", type=Path, default=DEFAULT_NAB / "labels" / "combined_windows.json"
    )
    parser.add_argument("--profiles", type=Path, default=DEFAULT_NAB / "config" / "profiles.json")
    parser.add_argument("--write-scores", type=Path, default=None, metavar="OUT")
    parser.add_argument("--per-file", action="store_true", help="print raw standard scores")
    args = parser.parse_args(argv)

    windows = nab.load_windows(args.labels)
    profiles = nab.load_profiles(args.profiles)
    runs: list[FileRun] = []
    elapsed = 0.0
    for name in sorted(windows):
        run, seconds = run_file(args.data / name, name)
        runs.append(run)
        elapsed += seconds
        if args.write_scores is not None:
            write_scores(args.write_scores, run)
    n_points = sum(len(r.values) for r in runs)
    us_per_point = 1e6 * elapsed / max(n_points, 1)

    summary: dict[str, Any] = {
        "default_threshold": DEFAULT_THRESHOLD,
        "scores": {},
        "optimized": {},
    }
    print(
        f"NAB: {len(runs)} files, {n_points} points, "
        f"{sum(len(w) for w in windows.values())} windows"
    )
    print(f"{'profile':<20} {'default':>8}  {'optimised':>9}  threshold")
    for profile in nab.PROFILES:
        score, best, best_threshold, per_file = evaluate(
            runs, windows, profiles[profile], DEFAULT_THRESHOLD
        )
        summary["scores"][profile] = round(score, 2)
        summary["optimized"][profile] = {
            "score": round(best, 2),
            "threshold": round(best_threshold, 6),
        }
        print(f"{profile:<20} {score:8.2f}  {best:9.2f}  {best_threshold:.6f}")
        if args.per_file and profile == "standard":
            for name, raw in per_file.items():
                print(f"    {name:<58} {raw:+.3f} ({len(windows[name])} windows)")
    summary["us_per_point"] = round(us_per_point, 2)
    print(f"{us_per_point:.2f} µs per point (score_one, learning included)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
