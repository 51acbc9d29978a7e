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
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks._args import bounded
from benchmarks._common import build_pool
from benchmarks._incident_faults import (
    NS,
    Fault,
    decoy_calls,
    scenario,
    slow_request,
    traffic,
)
from otel_perf.component import Context, processor_types
from otel_perf.decode import Decoder
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


def run_one(seed: int, missed: float, calls: bool = True) -> dict[str, Any]:
    faults = scenario(seed, T0, missed)
    findings = [f for fault in faults for f in fault.findings]
    random.Random(seed).shuffle(findings)
    store = Store(":memory:")
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    processor.start()
    if calls:
        decoys = decoy_calls(faults, random.Random(f"decoys:{seed}"))
        processor.consume_spans(traffic(faults, T0, decoys))
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


def run(
    scenarios: int, first_seed: int = 1, missed: float = 0.0, calls: bool = True
) -> dict[str, Any]:
    seeds = range(first_seed, first_seed + scenarios)
    rows = [run_one(seed, missed, calls) for seed in seeds]
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


HEADLINE = ("probable_cause_right", "incidents_per_fault", "findings_per_incident")
COST_SCENARIOS = 300  # stored findings for the tick cost: about 1,700, near max_findings


def cost(requests: int = 100) -> dict[str, float]:
    """What the processor costs: learning calls per span against the spanmetrics processor
    on the same decoded batches (best of five); with ~1,700 open findings, the first tick,
    a tick regrouping after one new finding (best of five) and a quiet tick (best of five)."""
    batches = [
        Decoder().spans(ExportTraceServiceRequest.FromString(body))[0]
        for body in build_pool(requests, seed=11)
    ]
    for batch in batches:
        batch.columns()  # decoded once, as the pipeline hands every processor the same batch
    store = Store(":memory:")
    spanmetrics = processor_types()["spanmetrics"]
    baseline = spanmetrics.create(Context("spanmetrics", store), spanmetrics.config_model())
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    spans = sum(len(b) for b in batches)
    learn_s = _best(lambda: [processor.consume_spans(b) for b in batches])
    baseline_s = _best(lambda: [baseline.consume_spans(b) for b in batches])
    for seed in range(1, COST_SCENARIOS + 1):
        store.add_findings([f for fault in scenario(seed, T0) for f in fault.findings])
    now = T0 + 300 * NS
    cold_s = _best(lambda: processor.tick(now), repeat=1)
    regroup = []
    for n in range(5):  # one new finding a tick: regrouped, the unchanged incidents kept
        now += NS
        store.add_findings([slow_request(f"new-{n}", "GET /", now, [])])
        regroup.append(_best(lambda at=now: processor.tick(at), repeat=1))
    quiet_s = _best(lambda: processor.tick(now + NS))
    store.close()
    full_s = min(regroup)
    return {
        "learn_us_per_span": round(learn_s / spans * 1e6, 3),
        "learn_vs_spanmetrics": round(learn_s / baseline_s, 3),
        "first_tick_ms": round(cold_s * 1e3, 2),
        "full_tick_ms": round(full_s * 1e3, 2),
        "quiet_tick_ms": round(quiet_s * 1e3, 3),
        "quiet_vs_full": round(quiet_s / full_s, 4),
    }


def _best(work: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenarios", type=bounded(1, 10_000), default=500)
    parser.add_argument("--first-seed", type=bounded(0, 10**9), default=1)
    parser.add_argument(
        "--held-out-seed",
        type=bounded(0, 10**9),
        default=1_000_001,
        help="first of as many held-out seeds, never looked at while tuning",
    )
    parser.add_argument(
        "--missed-percent", type=bounded(0, 90), default=20, help="symptoms not raised (%%)"
    )
    args = parser.parse_args()
    missed = args.missed_percent / 100
    complete = run(args.scenarios, args.first_seed)
    figures = run(args.scenarios, args.first_seed, missed)
    held_out = run(args.scenarios, args.held_out_seed, missed)
    no_calls = run(args.scenarios, args.first_seed, missed, calls=False)
    figures["complete_detection"] = {k: complete[k] for k in HEADLINE}
    figures["held_out"] = {k: held_out[k] for k in (*HEADLINE, "baseline_first_signal_right")}
    figures["held_out"]["first_seed"] = args.held_out_seed
    figures["without_call_graph"] = {k: no_calls[k] for k in HEADLINE}
    figures["cost"] = spent = cost()
    print(
        f"scenarios: {figures['scenarios']} a set ({figures['faults']} faults, "
        f"{figures['findings']} findings in the tuning set)"
    )
    print(f"{'':34}{'cause right':>12}{'incidents/fault':>17}{'findings/incident':>19}")
    rows = [
        ("every symptom raised", complete),
        (f"{args.missed_percent}% missed", figures),
        (f"{args.missed_percent}% missed, held-out seeds", held_out),
        (f"{args.missed_percent}% missed, no call graph", no_calls),
    ]
    for name, row in rows:
        print(
            f"{name:34}{row['probable_cause_right']:>12.1%}{row['incidents_per_fault']:>17.3f}"
            f"{row['findings_per_incident']:>19.2f}"
        )
    print(
        f"baseline (first signal as cause): {figures['baseline_first_signal_right']:.1%} "
        f"(held-out {held_out['baseline_first_signal_right']:.1%})"
    )
    print(
        f"cost: calls learned in {spent['learn_us_per_span']} µs a span "
        f"({spent['learn_vs_spanmetrics']:.2f}× the spanmetrics processor's); ~1,700 open "
        f"findings: first tick {spent['first_tick_ms']} ms, a regrouping tick "
        f"{spent['full_tick_ms']} ms, a quiet tick {spent['quiet_tick_ms']} ms "
        f"(quiet/regrouping {spent['quiet_vs_full']:.4f})"
    )
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
