"""The regression processor's saved documents, declared once (pydantic validates on load).

* ``index``: the names of the baselines and of the tests with runs;
* ``baseline/<name>``: one baseline (:class:`SavedBaseline`);
* ``runs/<name>``: a test's last runs (JSON-ready records, ``runs.run_record``);
* ``versions``: the version tracker, the usage per version and the recent comparisons.

What does not fit (damaged, another format) is dropped on start — that part starts
empty — counted in ``state_discarded`` and logged once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

INDEX, VERSIONS = "index", "versions"
BASELINE_PREFIX, RUNS_PREFIX = "baseline/", "runs/"
RunRecords = list[dict[str, Any]]


class SavedIndex(BaseModel):
    """Which baseline and run documents there are."""

    baselines: list[str] = []
    runs: list[str] = []


class SavedBaseline(BaseModel):
    """A baseline: its histogram (``ExponentialHistogram.to_dict``), reservoir and count;
    ``summary`` is written for people reading the store and recomputed on load."""

    name: str
    created_ns: int
    source: str
    histogram: dict[str, Any]
    samples: list[float]
    count: int
    summary: dict[str, float | None] = {}


class SavedSamples(BaseModel):
    """One version's first and last samples (ms) and their end times (ns)."""

    head: list[float]
    tail: list[float]
    head_ns: list[int] | None = None  # saved before times were kept
    tail_ns: list[int] | None = None


class SavedTracker(BaseModel):
    """``versions.VersionTracker``: current and seen versions, samples, pending comparisons."""

    current: dict[str, str]
    seen: dict[str, list[str]]
    samples: list[tuple[str, str, dict[str, SavedSamples]]]
    pending: list[tuple[str, str, str, str]]


class SavedUsage(BaseModel):
    """``usage.VersionUsage``: requests per (service, version), executions and ms per
    (service, version, statement)."""

    requests: list[tuple[str, str, int]] = []
    statements: list[tuple[str, str, str, int, float]] = []


class SavedVersions(BaseModel):
    """The version tracker, the usage per version and the recent comparisons."""

    tracker: SavedTracker
    usage: SavedUsage = SavedUsage()
    comparisons: list[dict[str, Any]] = []
