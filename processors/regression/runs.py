"""Run records: one regression test (or benchmark) result, JSON-ready, kept per test name."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from otel_perf.processors.regression.baselines import Baseline, summarize
from otel_perf.processors.regression.stats import Verdict


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, recursively (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def finite_dict(value: dict[str, Any]) -> dict[str, Any]:
    """:func:`finite` of a dict, typed as one."""
    return {k: finite(v) for k, v in value.items()}


def run_record(
    name: str,
    now_ns: int,
    source: str,
    samples: list[float],
    verdict: Verdict,
    baseline: Baseline,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored form of one run: what was measured, against which baseline, the verdict."""
    return finite_dict(
        {
            "name": name,
            "time_ns": now_ns,
            "source": source,
            "summary": summarize(samples),
            "baseline": {"created_ns": baseline.created_ns, "source": baseline.source},
            "outcome": verdict.outcome,
            "verdict": verdict.to_dict(),
            **(extra or {}),
        }
    )


class RunHistory:
    """The last ``max_runs`` runs of every test name, oldest first."""

    def __init__(self, max_runs: int) -> None:
        self.max_runs = max_runs
        self.by_name: dict[str, deque[dict[str, Any]]] = {}
        self.dirty: set[str] = set()

    def add(self, record: dict[str, Any]) -> None:
        name = record["name"]
        runs = self.by_name.setdefault(name, deque(maxlen=self.max_runs))
        runs.append(record)
        self.dirty.add(name)

    def of(self, name: str) -> list[dict[str, Any]]:
        return list(self.by_name.get(name, ()))

    def last(self, name: str) -> dict[str, Any] | None:
        runs = self.by_name.get(name)
        return runs[-1] if runs else None

    def restore(self, name: str, records: list[dict[str, Any]]) -> None:
        self.by_name[name] = deque(records, maxlen=self.max_runs)
