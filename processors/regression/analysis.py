"""What the API and the CLI read and do: named baselines, regression tests, trends, the analysis.

:class:`RegressionService` works on the processor's :class:`holdings.Holdings` under its
lock (API calls arrive on server threads); the routes reach it through the processor
(``processor.service``). :func:`compare` is the verdict both it and the processor's version
comparisons give.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from otel_perf.component import gauges
from otel_perf.processors.regression.baselines import Baseline
from otel_perf.processors.regression.config import RegressionConfig
from otel_perf.processors.regression.findings import run_finding
from otel_perf.processors.regression.holdings import Holdings
from otel_perf.processors.regression.release import judge_release
from otel_perf.processors.regression.runs import finite, finite_dict, run_record
from otel_perf.processors.regression.stats import Verdict
from otel_perf.processors.regression.trend import trend

NS = 1_000_000_000
Gauge = tuple[str, float, dict[str, str]]

gauges.register("otel_perf.regression.baseline_p95", "ms", "p95 of a regression baseline.")
gauges.register("otel_perf.regression.current_p95", "ms", "p95 of the latest run or interval.")
gauges.register(
    "otel_perf.regression.relative_change", "1", "Latest p95 against its baseline's, minus 1."
)


class UnknownBaseline(KeyError):
    """A regression test named a baseline that does not exist."""


def compare(
    config: RegressionConfig,
    baseline: Sequence[float],
    current: Sequence[float],
    tolerate_ms: bool = False,
) -> Verdict:
    """The release verdict of ``current`` against ``baseline`` with the config's settings;
    with ``tolerate_ms``, a significant shift under ``min_absolute_change_ms`` passes."""
    c = config
    verdict = judge_release(
        baseline,
        current,
        confidence=c.confidence,
        min_relative_change=c.min_relative_change,
        min_samples=c.min_samples,
        direction=c.direction,
        false_alarm_rate=c.false_alarm_rate,
    )
    # Kayenta-style tolerance: a significant shift smaller than this (in ms) is no
    # regression a user would notice — sub-millisecond noise between two processes
    if (
        tolerate_ms
        and verdict.outcome in ("regression", "improvement")
        and abs(verdict.hl_shift) < c.min_absolute_change_ms
    ):
        reason = (
            f"{verdict.reason}; but the shift {verdict.hl_shift:.3g} ms is under "
            f"min_absolute_change_ms {c.min_absolute_change_ms:g}"
        )
        return dataclasses.replace(verdict, outcome="pass", reason=reason)
    return verdict


class RegressionService:
    """Named baselines and runs against them, and the views of what the processor holds.

    Args:
        config: the processor's config.
        held: the processor's holdings (shared; every method takes their lock).
        source: the processor's id, named in findings and in the analysis.
    """

    def __init__(self, config: RegressionConfig, held: Holdings, source: str) -> None:
        self.config = config
        self.held = held
        self.source = source

    # -- named baselines and runs ------------------------------------------
    def establish_baseline(
        self, name: str, samples: Sequence[float], *, source: str = "api", now_ns: int | None = None
    ) -> Baseline:
        """Make (or replace) baseline ``name`` from ``samples`` (milliseconds).

        Raises:
            ValueError: a new name when ``max_series`` baselines exist already.
        """
        held = self.held
        with held.lock:
            if name not in held.baselines and len(held.baselines) >= self.config.max_series:
                raise ValueError(
                    f"{len(held.baselines)} baselines exist (max_series); replace one instead"
                )
            baseline = Baseline.build(
                name, list(samples), self._now(now_ns), source, self.config.reservoir_size
            )
            held.baselines[name] = baseline
            held.dirty.add(name)
            return baseline

    def run_regression_test(
        self,
        name: str,
        current_samples: Sequence[float],
        *,
        source: str = "api",
        now_ns: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Verdict:
        """Judge ``current_samples`` against baseline ``name``; the run is stored.

        Raises:
            UnknownBaseline: there is no baseline of that name.
        """
        held = self.held
        with held.lock:
            baseline = held.baselines.get(name)
            if baseline is None:
                raise UnknownBaseline(name)
            samples, now = list(current_samples), self._now(now_ns)
            verdict = compare(self.config, baseline.samples, samples)
            held.runs.add(run_record(name, now, source, samples, verdict, baseline, extra))
            held.current_p95[name] = verdict.current_p95
            finding = run_finding(name, verdict, now, self.source)
            if finding is not None:
                held.pending.append(finding)
            return verdict

    def record_run(
        self, name: str, samples: Sequence[float], *, source: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """A benchmark's samples: the first run of a name becomes its baseline, later ones
        are tested against it. Returns the stored run (or the new baseline's view)."""
        with self.held.lock:
            if name not in self.held.baselines:
                baseline = self.establish_baseline(name, samples, source=source)
                return {"baseline_established": True, "baseline": finite(baseline.view())}
            self.run_regression_test(name, samples, source=source, extra=extra)
            return {"baseline_established": False, "run": self.held.runs.last(name)}

    def _now(self, now_ns: int | None) -> int:
        return now_ns if now_ns is not None else (self.held.last_ns or time.time_ns())

    # -- reading ------------------------------------------------------------
    def trend_of(self, name: str) -> dict[str, Any] | None:
        """The trend of a test's run p95s, or of an operation's p95 per interval
        (``auto:service operation`` or ``service operation``); None if unknown."""
        with self.held.lock:
            runs = self.held.runs.of(name)
            if runs:
                points = [(r["time_ns"] / NS, r["verdict"]["current_p95"]) for r in runs]
                source = "runs"
            else:
                points = self.held.changes.history(name.removeprefix("auto:"))
                source = "series p95 per interval"
            if not points:
                return None
            fit = trend([t for t, _ in points], [v for _, v in points])
            return finite_dict(
                {
                    "name": name,
                    "source": source,
                    "points": [{"time_s": t, "p95_ms": v} for t, v in points],
                    "trend": fit.to_dict(),
                }
            )

    def analysis(self) -> dict[str, Any]:
        """Every baseline with its last verdict, recent change points and version comparisons."""
        held = self.held
        with held.lock:
            baselines = []
            for name, baseline in sorted(held.baselines.items()):
                last = held.runs.last(name)
                view = baseline.view()
                view["last_run"] = (
                    None
                    if last is None
                    else {k: last[k] for k in ("time_ns", "source", "outcome", "verdict")}
                )
                view["runs"] = len(held.runs.of(name))
                baselines.append(view)
            return finite_dict(
                {
                    "baselines": baselines,
                    "collecting_baselines": sorted(held.collecting),
                    "untracked_baselines": held.untracked,
                    "change_points": list(held.change_points),
                    "version_comparisons": list(held.comparisons),
                    "versions": held.versions.view(),
                }
            )

    def gauges(self) -> list[Gauge]:
        """Each baseline's p95, the latest run's or interval's, and their relative change."""
        with self.held.lock:
            out: list[Gauge] = []
            for name, baseline in self.held.baselines.items():
                base = baseline.summary.get("p95", float("nan"))
                current = self.held.current_p95.get(name)
                attrs = {"test": name}
                out.append(("otel_perf.regression.baseline_p95", base, attrs))
                if current is not None and current == current:
                    out.append(("otel_perf.regression.current_p95", current, attrs))
                    if base:
                        out.append(
                            ("otel_perf.regression.relative_change", current / base - 1, attrs)
                        )
            return out
