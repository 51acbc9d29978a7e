"""benchmarks/incidents.py runs and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_prints_its_figures_last_as_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.incidents", "--scenarios", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["scenarios"] == 20
    assert figures["complete_detection"]["incidents_per_fault"] == 1.0
    assert figures["complete_detection"]["probable_cause_right"] == 1.0
    assert figures["probable_cause_right"] >= 0.9
    assert figures["probable_cause_right"] > figures["baseline_first_signal_right"]
    # with symptoms missed, the call graph learned from spans keeps a fault in one incident
    assert figures["incidents_per_fault"] < figures["without_call_graph"]["incidents_per_fault"]
    held_out = figures["held_out"]
    assert held_out["probable_cause_right"] >= 0.9
    assert held_out["incidents_per_fault"] <= 1.05
