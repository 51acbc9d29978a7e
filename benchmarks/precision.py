"""Precision of the findings on generated traffic with decoys, sent paced like live traffic.

``python -m benchmarks.precision [--seeds N] [--first-seed N]``

For every seed: one scenario per cause (a product query 10× its baseline at 100-200 ms on
the hottest route; an N+1 of 6-25 calls of ~4 ms on the order list) and one clean
control, all with the same decoys (a staff-only export at 2 % of traffic whose report
query always takes 1-3 s, 3-4 fast repeated lookups, a frequent fast query, a sub-ms
health probe, a 200-ms payment call). Each scenario is 150 s of event time at 10 traces/s
sent over OTLP/gRPC to an in-process sidecar (``spanmetrics`` + ``bottlenecks`` + REST
API) in 1-s steps of a fake clock, 3 % of exports retried 3-12 s late; the cause starts
after three 30-s baseline windows (``tests/precision_scenarios.py``,
``tests/precision.py``).

Figures: top-1 of the injected cause by the bottleneck ranking and by
``/performance/recommendations``; the same top-1 for a naive baseline computed in the same
run (the operation with the most critical-path time); findings of severity ≥ warning per
clean scenario; decoys flagged (≥ warning) per scenario; late spans; traces analysed vs
sent. Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._args import bounded

TESTS = Path(__file__).resolve().parent.parent / "tests"


def _modules() -> tuple[Any, Any]:
    # the scenario generators and the runner are the test suite's (one copy of each)
    sys.path.insert(0, str(TESTS))
    import precision
    import precision_scenarios

    return precision, precision_scenarios


def naive_top1(outcome: Any, causes: dict[str, set[tuple[str, str]]]) -> bool:
    """The baseline: the operation with the most critical-path time is the cause."""
    rows = sorted(outcome.ranking, key=lambda r: -r["critical_path_ms"])
    return bool(rows) and (rows[0]["service"], rows[0]["operation"]) in causes[outcome.inject]


def run(seeds: int, first_seed: int = 1) -> dict[str, Any]:
    precision, ps = _modules()
    cause_runs: list[Any] = []
    clean_runs: list[Any] = []
    started = time.perf_counter()
    for seed in range(first_seed, first_seed + seeds):
        for inject in (*ps.CAUSES, None):
            with tempfile.TemporaryDirectory() as directory:
                outcome = precision.run(inject, seed, Path(directory))
            (clean_runs if inject is None else cause_runs).append(outcome)
            print(f"  seed {seed:>2} {inject or 'clean':<17} {_line(outcome.scores)}", flush=True)
    every = cause_runs + clean_runs
    n_cause, n_clean = len(cause_runs), len(clean_runs)
    return {
        "first_seed": first_seed,
        "scenarios": len(every),
        "cause_scenarios": n_cause,
        "clean_scenarios": n_clean,
        "top1_ranking": sum(o.scores["top1_ranking"] for o in cause_runs) / n_cause,
        "top1_recommendations": sum(o.scores["top1_recommendations"] for o in cause_runs) / n_cause,
        "top1_naive_critical_path": sum(naive_top1(o, ps.CAUSE_OPERATIONS) for o in cause_runs)
        / n_cause,
        "false_positives_per_clean_scenario": sum(o.scores["warnings"] for o in clean_runs)
        / n_clean,
        "extra_warnings_per_cause_scenario": sum(
            max(o.scores["warnings"] - 1, 0) for o in cause_runs
        )
        / n_cause,
        "decoys_flagged_per_scenario": sum(len(o.scores["decoys_flagged"]) for o in every)
        / len(every),
        "late_spans_per_scenario": sum(o.scores["late_spans"] for o in every) / len(every),
        "traces_analysed_equals_sent": all(
            o.scores["traces_analysed"] == o.scores["traces_sent"] for o in every
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _line(scores: dict[str, Any]) -> str:
    top = (
        ""
        if "top1_ranking" not in scores
        else (
            f"top1 ranking {scores['top1_ranking']!s:<5} recommendations "
            f"{scores['top1_recommendations']!s:<5} "
        )
    )
    return f"{top}warnings {scores['warnings']} decoys {scores['decoys_flagged']}"


def report(result: dict[str, Any]) -> None:
    print()
    print(
        f"scenarios                         {result['scenarios']} "
        f"({result['cause_scenarios']} with a cause, {result['clean_scenarios']} clean)"
    )
    print(f"top-1 by the bottleneck ranking   {result['top1_ranking']:.1%}")
    print(f"top-1 by the recommendations      {result['top1_recommendations']:.1%}")
    print(f"top-1, naive (most critical path) {result['top1_naive_critical_path']:.1%}")
    print(f"false positives per clean run     {result['false_positives_per_clean_scenario']:.3f}")
    print(f"extra warnings per cause run      {result['extra_warnings_per_cause_scenario']:.3f}")
    print(f"decoys flagged per scenario       {result['decoys_flagged_per_scenario']:.3f}")
    print(f"late spans per scenario           {result['late_spans_per_scenario']:.1f}")
    print(f"traces analysed == traces sent    {result['traces_analysed_equals_sent']}")
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.precision", description=__doc__)
    parser.add_argument("--seeds", type=bounded(1, 100), default=10, help="seeds (default 10)")
    parser.add_argument(
        "--first-seed", type=bounded(1, 10_000), default=1, help="the first seed (default 1)"
    )
    args = parser.parse_args(argv)
    report(run(args.seeds, args.first_seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
