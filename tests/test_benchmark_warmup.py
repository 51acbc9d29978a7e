"""``otel-perf benchmark`` warms up by default, so a second identical run is not an
"improvement" over a cold first one; a cold run (``--warmup 0``) becomes a baseline only
when asked (``--cold-baseline``). Against a real sidecar, with a callable whose first calls
are slow, as a lazily filled cache or a fresh connection pool makes them. The calls take
their time on an injected clock (the runner's ``perf_counter_ns``), not in sleeps a loaded
machine wakes late."""

from __future__ import annotations

import importlib
import json
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import DEFAULT, SidecarProcess, start_sidecar

from otel_perf.cli.commands import main
from otel_perf.processors.regression import benchmark_runner
from otel_perf.processors.regression.benchmark_runner import default_warmup

pytestmark = pytest.mark.e2e

ITERATIONS = 8
COLD_CALLS = default_warmup(ITERATIONS)  # the default warm-up covers the slow start exactly
REGRESSION = DEFAULT.replace(
    "service:\n",
    # min_relative_change 50 %: a cold first run (5 of 8 calls at 600 ms) would make a warm one
    # an 83 % improvement of the median
    "processors: {{regression: {{min_samples: 8, min_relative_change: 0.5}}}}\nservice:\n",
).replace(
    "traces: {{receivers: [otlp]}}", "traces: {{receivers: [otlp], processors: [regression]}}"
)
MODULE = f"""
NOW_NS = 0


def _cold_start():
    calls = 0

    def call():
        global NOW_NS
        nonlocal calls
        calls += 1
        NOW_NS += 600_000_000 if calls <= {COLD_CALLS} else 100_000_000

    return call


warm = _cold_start()
cold = _cold_start()
refused = _cold_start()
"""


@pytest.fixture
def sidecar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SidecarProcess]:
    (tmp_path / "slow_start.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    clock = types.SimpleNamespace(
        perf_counter_ns=lambda: importlib.import_module("slow_start").NOW_NS
    )
    monkeypatch.setattr(benchmark_runner, "time", clock)
    process = start_sidecar(tmp_path, REGRESSION)
    try:
        yield process
    finally:
        process.stop()


def bench(
    capsys: pytest.CaptureFixture[str], sidecar: SidecarProcess, name: str, *extra: str
) -> tuple[int, dict[str, object], str]:
    argv = ["benchmark", name, "--callable", f"slow_start:{name}", "--iterations"]
    argv += [str(ITERATIONS), "--api", f"127.0.0.1:{sidecar.api}", "-o", "json", *extra]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def test_a_second_identical_run_is_not_an_improvement(
    sidecar: SidecarProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first, _ = bench(capsys, sidecar, "warm")
    assert code == 0 and first["baseline_established"] is True
    code, second, err = bench(capsys, sidecar, "warm")
    assert code == 0, (err, second.get("run"))  # exit 1: the run was judged a regression
    assert second["run"]["outcome"] == "pass", second["run"]  # type: ignore[index]
    # a cold baseline (5 of 8 calls at 600 ms) would put the median 83 % lower; at n = 8 the
    # verdict cannot call that significant, so the shift itself is checked
    assert abs(second["run"]["verdict"]["p50_delta"]) < 0.5, second["run"]  # type: ignore[index]
    kinds = {f["kind"] for f in sidecar.get("/performance/findings")["findings"]}
    assert "improvement_detected" not in kinds


def test_a_cold_run_becomes_a_baseline_only_when_asked(
    sidecar: SidecarProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = bench(capsys, sidecar, "refused", "--warmup", "0")
    assert code == 1
    assert '"refused" has no baseline yet, and a run with --warmup 0 is cold' in err
    assert sidecar.get("/performance/regression/analysis")["baselines"] == []

    # asked for, the cold run becomes the baseline
    code, first, _ = bench(capsys, sidecar, "cold", "--warmup", "0", "--cold-baseline")
    assert code == 0 and first["baseline_established"] is True
    names = [b["name"] for b in sidecar.get("/performance/regression/analysis")["baselines"]]
    assert names == ["cold"]
