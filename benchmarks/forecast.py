"""Rolling-origin forecast benchmark on NAB series: ``python -m benchmarks.forecast``.

For each realKnownCause / realAdExchange series (plus AWS- or traffic-like ones in other
categories): 5 origins evenly spaced over the last half; from each, forecast the next day (10 % of
the length if a day is not a whole number of samples) with "ours"
(:func:`otel_perf.processors.capacity.forecast.forecast`), "seasonal_naive" (daily lag, else
the last value) and "holt_winters" (statsmodels ``ExponentialSmoothing``, additive trend and
daily season where two days fit, else trend only). All methods see the same window (ours'
default history). Scores: MASE scaled by the in-sample seasonal-naive MAE, 90 % interval
coverage, ms per forecast (wall clock, and process CPU time, which a busy shared machine
disturbs less). The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from otel_perf.processors.capacity.forecast import default_history, forecast
from otel_perf.processors.capacity.seasonality import DAY_S, candidate_lag

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NAB = ROOT.parent / "shared" / "datasets" / "nab"
CATEGORIES = ("realKnownCause", "realAdExchange", "realAWSCloudwatch", "realTraffic")
METHODS = ("ours", "seasonal_naive", "holt_winters")
LEVEL = 0.9
N_ORIGINS = 5
HW_SIMULATIONS = 200

Array = np.ndarray[Any, np.dtype[np.float64]]


def load(path: Path) -> tuple[Array, float]:
    """Values and the median sampling interval (s) of one NAB csv."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    t = np.array([datetime.fromisoformat(r["timestamp"]).timestamp() for r in rows])
    return np.array([float(r["value"]) for r in rows]), float(np.median(np.diff(t)))


def seasonal_naive(train: Array, lag: int, horizon: int) -> tuple[Array, Array, Array]:
    """Repeat the last season; interval from the in-sample lag-differences' quantiles."""
    mean = np.resize(train[-lag:], horizon) if lag > 1 else np.full(horizon, train[-1])
    diffs = train[lag:] - train[:-lag]
    lo, hi = np.quantile(diffs, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return mean, mean + lo, mean + hi


def holt_winters(train: Array, lag: int, horizon: int) -> tuple[Array, Array, Array]:
    """statsmodels Holt-Winters; interval from simulated paths."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = lag > 1 and train.size >= 2 * lag
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ExponentialSmoothing(
            train,
            trend="add",
            seasonal="add" if seasonal else None,
            seasonal_periods=lag if seasonal else None,
        )
        fit = model.fit()
        mean = np.asarray(fit.forecast(horizon))
        sims = np.asarray(fit.simulate(horizon, repetitions=HW_SIMULATIONS, anchor="end"))
    lo, hi = np.quantile(sims, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=1)
    return mean, lo, hi


def evaluate(values: Array, interval_s: float) -> dict[str, dict[str, float]]:
    """Mean MASE, coverage and ms per forecast of each method over the rolling origins."""
    lag = candidate_lag(DAY_S, interval_s) or 1
    horizon = lag if lag > 1 else max(1, values.size // 10)
    history = default_history(interval_s)
    origins = np.linspace(values.size // 2, values.size - horizon, N_ORIGINS).astype(int)
    out: dict[str, dict[str, list[float]]] = {
        m: {"mase": [], "cov": [], "ms": [], "cpu_ms": []} for m in METHODS
    }
    for origin in origins:
        train, test = values[max(0, origin - history) : origin], values[origin : origin + horizon]
        scale = float(np.mean(np.abs(train[lag:] - train[:-lag]))) or 1.0
        for method in METHODS:
            start, cpu_start = time.perf_counter(), time.process_time()
            if method == "ours":
                fc = forecast(train, interval_s, horizon, level=LEVEL)
                mean, lo, hi = fc.mean, fc.lower, fc.upper
            elif method == "seasonal_naive":
                mean, lo, hi = seasonal_naive(train, lag, horizon)
            else:
                mean, lo, hi = holt_winters(train, lag, horizon)
            out[method]["ms"].append((time.perf_counter() - start) * 1000)
            out[method]["cpu_ms"].append((time.process_time() - cpu_start) * 1000)
            out[method]["mase"].append(float(np.mean(np.abs(test - mean))) / scale)
            out[method]["cov"].append(float(np.mean((test >= lo) & (test <= hi))))
    return {m: {k: float(np.mean(v)) for k, v in r.items()} for m, r in out.items()}


def files(data: Path) -> list[Path]:
    """The series to run, in a stable order."""
    return sorted(p for c in CATEGORIES for p in (data / "data" / c).glob("*.csv"))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a table and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_NAB)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'series':44s} " + " ".join(f"{m:>31s}" for m in METHODS))
    print(f"{'':44s} " + " ".join(f"{'MASE':>9s} {'cov90':>9s} {'ms':>11s}" for _ in METHODS))
    for path in files(args.data):
        values, interval_s = load(path)
        name = f"{path.parent.name}/{path.name}"
        results[name] = evaluate(values, interval_s)
        cells = [
            f"{r['mase']:9.3f} {r['cov']:9.3f} {r['ms']:11.1f}" for r in results[name].values()
        ]
        print(f"{name:44s} " + " ".join(cells), flush=True)
    summary = {
        key: {m: round(float(np.mean([r[m][k] for r in results.values()])), 4) for m in METHODS}
        for key, k in (
            ("mase", "mase"),
            ("coverage", "cov"),
            ("ms_per_forecast", "ms"),
            ("cpu_ms_per_forecast", "cpu_ms"),
        )
    }
    print(
        f"{'mean':44s} "
        + " ".join(
            f"{summary['mase'][m]:9.3f} {summary['coverage'][m]:9.3f} "
            f"{summary['ms_per_forecast'][m]:11.1f}"
            for m in METHODS
        )
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
