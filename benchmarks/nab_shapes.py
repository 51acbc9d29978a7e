"""Series shaped like NAB's withheld kinds: ``python -m benchmarks.nab_shapes`` (see README.md).

A sanity suite for the failure modes the independent out-of-sample NAB run reported (issue
16), on synthetic series shaped like the kinds the project does not have, never used to choose
a parameter:

- **spiky CPU with a persisting shift** (like cloud metrics of VMs and auto-scaling groups):
  five-minute CPU % over 14 days (4,032 points, a NAB cloud-metric file's length), a mild daily
  cycle, Gaussian noise of σ = 2 points and a spike of +30…65 on 2 % of the points; a faulty
  copy lifts the level by 5σ, 7.5σ or 10σ for 12 hours. Found: an alert between the shift's
  onset and its end; delay in points.
- **bursty daily counts** (like social-media volume): five-minute Poisson counts over 28 days
  with a daily cycle (20 … 80 a point) and bursts of 3× lasting 2–12 points about once a day,
  which are their normal. No anomaly: every alert is a false alarm.

Each series runs through a fresh :class:`Detector` point by point, its warm-up NAB's
probationary period (15 % of the points, at most 750), with the generic settings (what NAB
scores and ``otel-perf anomaly score`` runs) and with ``robust`` (the processor's default on
CPU, disk and network series). Figures per setting: shifts found and their median delay,
false alarms per series-day on the clean CPU series and on the counts. All randomness is
seeded; the last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks._args import bounded
from otel_perf.processors.anomaly.detector import DEFAULT_THRESHOLD, Detector, DetectorSettings
from otel_perf.processors.anomaly.detector import robust as robust_settings

FloatArray = npt.NDArray[np.float64]
STEP_S = 300.0
DAY = 288  # five-minute points a day
T0_S = 1_767_225_600.0  # 2026-01-01 00:00 UTC
CPU_POINTS = 14 * DAY
COUNT_POINTS = 28 * DAY
NOISE = 2.0  # σ of the CPU series' noise, in CPU points
SHIFTS_SIGMA = (5.0, 7.5, 10.0)
SHIFT_POINTS = 144  # 12 hours
SETTINGS = {"generic": DetectorSettings(), "robust": robust_settings(DetectorSettings())}


@dataclass(frozen=True)
class Case:
    kind: str  # "cpu_shift", "cpu_clean" or "counts"
    values: FloatArray
    onset: int | None = None  # first shifted point
    end: int = 0  # one past the last


def _daily(n: int) -> FloatArray:
    return np.sin(2.0 * np.pi * np.arange(n) / DAY)


def spiky_cpu(seed: int, shift_sigma: float | None) -> Case:
    """Five-minute CPU %: daily cycle, noise, 2 % spikes; a 12-hour shift if ``shift_sigma``."""
    rng = np.random.default_rng(seed)
    n = CPU_POINTS
    values = 30.0 + 4.0 * _daily(n) + rng.normal(0.0, NOISE, n)
    spikes = rng.random(n) < 0.02
    values[spikes] += rng.uniform(30.0, 65.0, int(spikes.sum()))
    if shift_sigma is None:
        return Case("cpu_clean", np.minimum(values, 100.0))
    onset = int(rng.integers(n // 2, n - SHIFT_POINTS - DAY))  # past the probation
    values[onset : onset + SHIFT_POINTS] += shift_sigma * NOISE
    return Case("cpu_shift", np.minimum(values, 100.0), onset, onset + SHIFT_POINTS)


def bursty_counts(seed: int) -> Case:
    """Five-minute counts: a daily cycle, and 3× bursts of 2–12 points about once a day."""
    rng = np.random.default_rng(seed)
    n = COUNT_POINTS
    rate = 20.0 + 60.0 * (0.5 + 0.5 * _daily(n))
    burst = np.zeros(n, dtype=np.bool_)
    for start in np.flatnonzero(rng.random(n) < 1.0 / DAY).tolist():
        burst[start : start + int(rng.integers(2, 13))] = True
    return Case("counts", rng.poisson(np.where(burst, 3.0 * rate, rate)).astype(np.float64))


def cases(seeds: int, first_seed: int = 0) -> list[Case]:
    """Every series of the suite for ``seeds`` seeds."""
    out = []
    for seed in range(first_seed, first_seed + seeds):
        out += [spiky_cpu(seed, s) for s in SHIFTS_SIGMA]
        out += [spiky_cpu(seed + 10_000, None), bursty_counts(seed)]
    return out


def alerts(case: Case, settings: DetectorSettings) -> list[int]:
    """Points the detector alerts on, its warm-up NAB's probationary period."""
    warm_up = math.ceil(min(0.15 * len(case.values), 750))
    detector = Detector(replace(settings, warm_up=warm_up))
    score_one = detector.score_one
    return [
        i
        for i, x in enumerate(case.values.tolist())
        if score_one(T0_S + STEP_S * i, x) >= DEFAULT_THRESHOLD
    ]


def figures(suite: list[Case], settings: DetectorSettings) -> dict[str, Any]:
    """Shifts found and their delay; false alarms per series-day after warm-up."""
    found, delays = 0, []
    false_alarms = {"cpu_clean": 0, "counts": 0}
    days = {"cpu_clean": 0.0, "counts": 0.0}
    shifts = 0
    for case in suite:
        hits = alerts(case, settings)
        if case.onset is not None:
            shifts += 1
            inside = [i for i in hits if case.onset <= i < case.end]
            if inside:
                found += 1
                delays.append(inside[0] - case.onset)
            continue
        false_alarms[case.kind] += len(hits)
        days[case.kind] += (len(case.values) - min(0.15 * len(case.values), 750)) / DAY
    return {
        "shifts": shifts,
        "shifts_found": found,
        "median_delay_points": float(statistics.median(delays)) if delays else None,
        "false_alarms_per_series_day": {
            kind: round(false_alarms[kind] / days[kind], 3) for kind in false_alarms
        },
    }


def main(argv: list[str] | None = None) -> None:
    """Run the suite with the generic and the robust settings; the last line is JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nab_shapes", description=__doc__)
    parser.add_argument("--seeds", type=bounded(1, 50), default=5)
    parser.add_argument("--first-seed", type=bounded(0, 10_000), default=0)
    args = parser.parse_args(argv)
    suite = cases(args.seeds, args.first_seed)
    summary: dict[str, Any] = {"seeds": args.seeds, "first_seed": args.first_seed}
    print(
        f"seeds {args.first_seed}–{args.first_seed + args.seeds - 1}: spiky CPU with a 12-hour "
        f"shift of {', '.join(f'{s:g}' for s in SHIFTS_SIGMA)}σ (and clean), bursty counts"
    )
    print(f"{'settings':<10} {'shifts found':>12} {'median delay':>13}  false alarms/series-day")
    for name, settings in SETTINGS.items():
        result = summary[name] = figures(suite, settings)
        delay = result["median_delay_points"]
        rates = result["false_alarms_per_series_day"]
        print(
            f"{name:<10} {result['shifts_found']:>5} / {result['shifts']:<5} "
            f"{'-' if delay is None else f'{delay:g}':>13}  "
            f"clean CPU {rates['cpu_clean']:.3f}, counts {rates['counts']:.3f}"
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
