"""Incidents: are simultaneous faults told apart, each with the right probable cause?

``python -m benchmarks.incidents [--scenarios N] [--first-seed N]``

Each scenario injects two to four simultaneous faults on disjoint services, drawn with a
seed from three kinds (``benchmarks/_incident_faults.py``): a release that slows one
statement (regression, slow query, slow requests, latency anomaly, SLO burn), a downstream
service slowing (its route and one to three callers' routes and SLOs) and a CPU-saturated
host (capacity forecast, anomalies and slow requests across three routes). Detection lags
are random, so a symptom is often reported before its cause, and a share of the symptoms
(``--missed-percent``, 20 by default) is not raised at all, as when a fault stays under a
processor's floor: the headline figures are with those gaps, beside the same scenarios
with every symptom raised (``complete_detection``). The findings are written to
a store in three shuffled deliveries, the ``incidents`` processor ticking after each, as
the pipeline would run it; the figures are read after the last tick.

Figures: the share of faults whose incident names the injected cause (service, kind and
subject) as probable cause; incidents per injected fault (1.0: neither split nor merged);
findings per incident. The baseline, measured in the same run on the same incidents:
taking the member that moved first as the cause. Prints a table, then one JSON object as
the last line.
"""

from __future__ import annotations

import argparse
import json
import random
from typing import Any

from benchmarks._args import bounded
from benchmarks._incident_faults import NS, Fault, scenario
from otel_perf.component import Context
from otel_perf.processors.incidents.config import IncidentsConfig
from otel_perf.processors.incidents.processor import IncidentsProcessor
from otel_perf.store import Store

T0 = 1_800_000_000 * NS


def names_cause(fault: Fault, cause: dict[str, Any]) -> bool:
    return (
        cause["service"] == fault.cause_service
        and cause["kind"] in {k.value for k in fault.cause_kinds}
        and fault.cause_subject in cause["subject"]
    )


def run_one(seed: int, missed: float) -> dict[str, Any]:
    faults = scenario(seed, T0, missed)
    findings = [f for fault in faults for f in fault.findings]
    random.Random(seed).shuffle(findings)
    store = Store(":memory:")
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    processor.start()
    third = len(findings) // 3 + 1
    for step in range(3):
        store.add_findings(findings[step * third : (step + 1) * third])
        processor.tick(T0 + (200 + 30 * step) * NS)
    incidents = processor.snapshot()["open"]
    store.close()
    right = first_right = 0
    for fault in faults:
        keys = {f.key for f in fault.findings}
        mine = max(incidents, key=lambda i: len(keys & {m["key"] for m in i["members"]}))
        right += names_cause(fault, mine["probable_cause"])
        first = min(mine["members"], key=lambda m: (m["start_ns"], m["key"]))
        first_right += names_cause(fault, first)
    return {
        "faults": len(faults),
        "incidents": len(incidents),
        "findings": len(findings),
        "right": right,
        "first_right": first_right,
    }


def run(scenarios: int, first_seed: int = 1, missed: float = 0.0) -> dict[str, Any]:
    rows = [run_one(seed, missed) for seed in range(first_seed, first_seed + scenarios)]
    total = {k: sum(r[k] for r in rows) for k in rows[0]}
    return {
        "probable_cause_right": round(total["right"] / total["faults"], 4),
        "incidents_per_fault": round(total["incidents"] / total["faults"], 4),
        "findings_per_incident": round(total["findings"] / max(total["incidents"], 1), 4),
        "baseline_first_signal_right": round(total["first_right"] / total["faults"], 4),
        "faults": total["faults"],
        "findings": total["findings"],
        "scenarios": scenarios,
        "missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenarios", type=bounded(1, 10_000), default=500)
    parser.add_argument("--first-seed", type=bounded(0, 10**9), default=1)
    parser.add_argument(
        "--missed-percent", type=bounded(0, 90), default=20, help="symptoms not raised (%%)"
    )
    args = parser.parse_args()
    complete = run(args.scenarios, args.first_seed)
    figures = run(args.scenarios, args.first_seed, args.missed_percent / 100)
    print(
        f"every symptom raised: cause right {complete['probable_cause_right']:.1%}, "
        f"{complete['incidents_per_fault']:.3f} incidents per fault"
    )
    print(f"{args.missed_percent}% of symptoms not raised:")
    figures["complete_detection"] = {
        k: complete[k]
        for k in ("probable_cause_right", "incidents_per_fault", "findings_per_incident")
    }
    print(
        f"scenarios: {figures['scenarios']} ({figures['faults']} faults, "
        f"{figures['findings']} findings)"
    )
    print(
        f"probable cause right:          {figures['probable_cause_right']:.1%} "
        f"(baseline, first signal: {figures['baseline_first_signal_right']:.1%})"
    )
    print(f"incidents per injected fault:  {figures['incidents_per_fault']:.3f}")
    print(f"findings per incident:         {figures['findings_per_incident']:.2f}")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
