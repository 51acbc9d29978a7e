"""SLO processor at scale: memory and evaluation-tick cost of 1,000 objectives over 30 days.

``python -m benchmarks.slo [--objectives N] [--services N] [--ticks N]``

Builds an ``SLOProcessor`` directly (no receiver, an in-memory store) with explicit
availability objectives over rolling 30-day windows, gives every objective 30 days of
per-minute counts, then measures the processor's memory (RSS delta and tracemalloc) and
the CPU time of one evaluation tick over all objectives, against a baseline measured in
the same run: one numpy sum over the same number of 30-day per-minute int64 arrays.
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

from benchmarks._args import bounded
from otel_perf.component import Context
from otel_perf.processors.slo.config import SLOConfig, expand
from otel_perf.processors.slo.processor import SLOProcessor
from otel_perf.processors.slo.state import ObjectiveState
from otel_perf.store import Store

MINUTE_NS = 60_000_000_000
WINDOW_DAYS = 30
WINDOW_MINUTES = WINDOW_DAYS * 1440
MiB = 1024 * 1024

# one objective per slot and service: the whole service, then three of its operations
# (operation, target, requests per minute at the daily peak, share of failing requests)
SLOTS: tuple[tuple[str | None, float, int, float], ...] = (
    (None, 0.999, 1200, 0.0005),
    ("GET /api/orders/{id}", 0.995, 600, 0.002),
    ("POST /api/orders", 0.99, 120, 0.004),
    ("GET /api/items", 0.9995, 400, 0.0008),
)


@dataclass
class Template:
    """One slot's 30 days of traffic, filled minute by minute, as ``ObjectiveState.to_dict``."""

    state: dict[str, Any]
    totals: npt.NDArray[np.int64]  # requests per minute, oldest first
    fill_s: float  # wall time of the WINDOW_MINUTES MinuteCounts.add calls


def config(objectives: int, services: int) -> SLOConfig:
    """``objectives`` explicit availability objectives, dealt to ``services`` services."""
    entries = []
    for i in range(objectives):
        service, slot = f"svc-{i % services:04d}", i // services
        operation, target, _, _ = SLOTS[slot % len(SLOTS)]
        entry: dict[str, Any] = {
            "name": f"{service}-{slot}",
            "service": service,
            "availability": target,
            "window": f"{WINDOW_DAYS}d",
        }
        if operation:
            entry["operation"] = operation
        entries.append(entry)
    return SLOConfig.model_validate({"objectives": entries, "defaults": {"enabled": False}})


def fill_template(
    cfg: SLOConfig, slot: int, services: int, head_minute: int, seed: int
) -> Template:
    """30 days of per-minute counts through ``MinuteCounts.add``, one call per minute.

    Traffic follows a daily cycle (peak at 1.5x the mean) with binomial failures; the newest
    minute is ``head_minute``. The state is that of the slot's first objective.
    """
    _, _, peak, error_share = SLOTS[slot]
    rng = np.random.default_rng(seed + slot)
    minutes = np.arange(head_minute - WINDOW_MINUTES + 1, head_minute + 1)
    cycle = 1.0 + 0.5 * np.sin(2 * np.pi * (minutes % 1440) / 1440)
    totals = rng.poisson(peak / 1.5 * cycle).astype(np.int64)
    bad = rng.binomial(totals, error_share).astype(np.int64)
    settings = cfg.objectives[slot * services]
    state = ObjectiveState.new(expand(settings, cfg.rules(), cfg.min_events)[0])
    started = time.perf_counter()
    for minute, good, total in zip(
        minutes.tolist(), (totals - bad).tolist(), totals.tolist(), strict=True
    ):
        state.counts.add(minute, good, total)
    fill_s = time.perf_counter() - started
    return Template(state.to_dict(), totals, fill_s)


def build(cfg: SLOConfig, templates: list[Template], head_minute: int) -> SLOProcessor:
    """The processor with every objective loaded from its slot's template, then one tick.

    Loading goes through ``ObjectiveState.restore`` (the path a restart takes), so each
    objective holds its own arrays, as if it had been filled by its own ``add`` calls.
    """
    slo = SLOProcessor(Context("slo", Store(":memory:")), cfg)
    slo.start()
    for i, state in enumerate(slo.states.values()):
        state.restore(templates[i // len(slo.by_service) % len(templates)].state)
    traffic(slo, head_minute + 1)
    slo.tick((head_minute + 1) * MINUTE_NS + 30_000_000_000)  # fills each objective's view
    return slo


def traffic(slo: SLOProcessor, minute: int) -> None:
    """One minute of traffic for every objective (intake, not part of the tick's cost)."""
    for state in slo.states.values():
        state.add(minute, 599, 600)


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / MiB


@dataclass
class Memory:
    rss_delta_mb: float
    traced_mb: float
    arrays_mb: float


def measure_memory(
    cfg: SLOConfig, templates: list[Template], head_minute: int
) -> tuple[Memory, SLOProcessor]:
    """RSS delta of a first build; tracemalloc of a second (tracemalloc off for the first).

    The first build's memory is freed before the second, which is the one returned.
    """
    gc.collect()
    before = rss_mb()
    slo = build(cfg, templates, head_minute)
    gc.collect()
    rss_delta = rss_mb() - before
    del slo
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    slo = build(cfg, templates, head_minute)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    arrays = sum(s.counts.nbytes for s in slo.states.values())
    return Memory(rss_delta, traced / MiB, arrays / MiB), slo


def cpu_ms(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) * 1000


def measure_ticks(slo: SLOProcessor, head_minute: int, ticks: int) -> tuple[list[float], int]:
    """CPU ms of ``ticks`` ticks, each at a new minute after that minute's traffic."""
    times, findings = [], 0
    for k in range(ticks):
        minute = head_minute + 2 + k
        traffic(slo, minute)
        now_ns = minute * MINUTE_NS + 30_000_000_000
        started = time.process_time()
        findings += len(slo.tick(now_ns))
        times.append((time.process_time() - started) * 1000)
    return times, findings


def measure_baseline(templates: list[Template], objectives: int, repeats: int) -> list[float]:
    """CPU ms of one ``sum(axis=1)`` over ``objectives`` 30-day per-minute int64 arrays.

    The brute-force answer to "how many requests in each objective's window": every minute
    kept at full resolution (43,200 values per objective, one column only) and summed.
    """
    rows = [templates[i % len(templates)].totals for i in range(objectives)]
    per_minute = np.stack(rows)  # (objectives, WINDOW_MINUTES), contiguous, already touched
    del rows
    per_minute.sum(axis=1)  # warm-up
    return [cpu_ms(lambda: per_minute.sum(axis=1)) for _ in range(repeats)]


def measure_save(slo: SLOProcessor, head_minute: int, ticks: int) -> tuple[float, int]:
    """CPU ms of one save of every (changed) objective to the store, and its bytes each."""
    states = list(slo.states.values())
    for state in states:
        state.dirty = True
    now_ns = (head_minute + 2 + ticks) * MINUTE_NS
    slo.saved_ns = 0
    elapsed = cpu_ms(lambda: slo.flush(now_ns))
    size = len(json.dumps(states[0].to_dict(), separators=(",", ":")))
    return elapsed, size


def report(args: argparse.Namespace, result: dict[str, Any], extra: dict[str, Any]) -> None:
    """The table for people, then the JSON line last."""
    n = result["objectives"]
    print(
        f"slo: {n:,} availability objectives ({extra['services']} services x "
        f"{n // extra['services']} objectives), rolling {WINDOW_DAYS}-day windows at one-minute "
        f"resolution, {WINDOW_MINUTES:,} minutes of counts each"
    )
    print(
        f"fill: {len(SLOTS)} templates filled minute by minute through MinuteCounts.add "
        f"({extra['fill_s_per_objective']:.2f} s each, so {extra['fill_s_all_estimate']:.0f} s "
        f"for all {n:,}); objectives loaded from them with ObjectiveState.restore"
    )
    rows = [
        ("memory (tracemalloc)", f"{result['memory_mb']:.1f} MB", "processor state, all"),
        ("memory per objective", f"{result['kb_per_objective']:.1f} KB", "tracemalloc / n"),
        ("RSS delta", f"{extra['rss_delta_mb']:.1f} MB", "first build, untraced"),
        ("numpy rings", f"{extra['arrays_mb']:.1f} MB", "MinuteCounts.nbytes, all"),
        ("tick (median CPU)", f"{result['tick_ms']:.1f} ms", f"of {args.ticks} ticks"),
        ("tick per objective", f"{result['tick_us_per_objective']:.1f} µs", "median / n"),
        ("tick min .. max", f"{extra['tick_min_ms']:.1f} .. {extra['tick_max_ms']:.1f} ms", ""),
        ("baseline (median CPU)", f"{result['baseline_ms']:.2f} ms", "numpy sum, n x 43,200"),
        ("ratio tick / baseline", f"{result['ratio']:.2f}", ""),
        ("save all (CPU)", f"{extra['save_ms']:.0f} ms", "flush of n changed objectives"),
        ("saved state each", f"{extra['saved_kb_per_objective']:.1f} KB", "JSON in the store"),
    ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    for label, value, note in rows:
        print(f"  {label:<{width}}  {value:>{value_width}}  {note}".rstrip())
    print(json.dumps({**result, **extra}), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slo", description=__doc__)
    parser.add_argument("--objectives", type=bounded(4, 5000), default=1000)
    parser.add_argument("--services", type=bounded(1, 5000), default=250)
    parser.add_argument("--ticks", type=bounded(3, 50), default=7, help="timed ticks")
    parser.add_argument("--seed", type=int, default=1, help="seed of the traffic")
    args = parser.parse_args(argv)
    if args.objectives % args.services or args.objectives // args.services > len(SLOTS):
        parser.error(f"--objectives must be 1 to {len(SLOTS)} times --services")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.objectives
    cfg = config(n, args.services)
    head_minute = time.time_ns() // MINUTE_NS - 2
    print(
        f"filling {n // args.services} templates of {WINDOW_MINUTES:,} minutes...", file=sys.stderr
    )
    slots = min(len(SLOTS), n // args.services)
    templates = [
        fill_template(cfg, slot, args.services, head_minute, args.seed) for slot in range(slots)
    ]
    print("measuring memory...", file=sys.stderr)
    memory, slo = measure_memory(cfg, templates, head_minute)
    print(f"timing {args.ticks} ticks...", file=sys.stderr)
    ticks, findings = measure_ticks(slo, head_minute, args.ticks)
    save_ms, saved_bytes = measure_save(slo, head_minute, args.ticks)
    baseline = measure_baseline(templates, n, args.ticks)
    tick_ms, baseline_ms = statistics.median(ticks), statistics.median(baseline)
    fill_s = statistics.mean(t.fill_s for t in templates)
    result = {
        "objectives": n,
        "window_days": WINDOW_DAYS,
        "memory_mb": round(memory.traced_mb, 1),
        "kb_per_objective": round(memory.traced_mb * 1024 / n, 1),
        "tick_ms": round(tick_ms, 1),
        "tick_us_per_objective": round(tick_ms * 1000 / n, 1),
        "baseline_ms": round(baseline_ms, 2),
        "ratio": round(tick_ms / baseline_ms, 2),
    }
    extra = {
        "services": args.services,
        "rss_delta_mb": round(memory.rss_delta_mb, 1),
        "arrays_mb": round(memory.arrays_mb, 1),
        "tick_min_ms": round(min(ticks), 1),
        "tick_max_ms": round(max(ticks), 1),
        "ticks": args.ticks,
        "findings": findings,
        "save_ms": round(save_ms, 1),
        "saved_kb_per_objective": round(saved_bytes / 1024, 1),
        "fill_s_per_objective": round(fill_s, 3),
        "fill_s_all_estimate": round(fill_s * n, 1),
    }
    report(args, result, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
