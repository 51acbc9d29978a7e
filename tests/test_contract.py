"""One contract suite over every built-in component type (river's check_*, the
Collector's generated lifecycle tests), through ``otel_perf.componenttest``: each type's
``testdata/config.yaml``; create, shutdown without start, start-consume-shutdown,
shutdown twice, input not mutated, same input same output; state through a restart on
the store; and every golden case (``testdata/<case>/input.jsonl`` -> its answer).

``OTEL_PERF_UPDATE_GOLDEN=1`` rewrites the golden answers (review the diff)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from otlp_builders import logs_request, metrics_request, trace_request

from otel_perf.component import Factory, exporter_types, processor_types
from otel_perf.componenttest import (
    check_exporter_lifecycle,
    check_golden,
    check_processor_lifecycle,
    check_state_round_trip,
    golden_cases,
    load_config,
    testdata_dir,
)
from otel_perf.decode import Decoder

ROOT = Path(__file__).parents[1]


def builtin(types: Any) -> dict[str, Factory[Any, Any]]:
    """The built-in types (tests/support.py's test-only types are fixtures, not products)."""
    prefixes = ("otel_perf.processors.", "otel_perf.exporters.")
    return {k: f for k, f in types.items() if f.config_model.__module__.startswith(prefixes)}


PROCESSORS = builtin(processor_types())
EXPORTERS = builtin(exporter_types())
ALL = {**PROCESSORS, **EXPORTERS}
CASES = [(kind, case.name) for kind, f in ALL.items() for case in golden_cases(testdata_dir(f))]
#: snapshot keys kept in memory only, by design: progress counters (span metrics' API view
#: after a restart is its stored 1 min rollups until a base interval closes: see its README)
IN_MEMORY: dict[str, tuple[str, ...]] = {
    "capacity": ("history.pending_rows",),
    "incidents": ("evaluations",),
    "spanmetrics": ("series", "spans"),
}
#: processors whose state does not survive a restart through the store, and how (strict
#: xfails: the test fails once one is fixed, to be removed). Every built-in survives today.
NOT_RESTORED: dict[str, str] = {}


def test_every_component_folder_has_a_config_and_a_golden_case() -> None:
    folders = {testdata_dir(f).parent for f in ALL.values()}
    on_disk = {p for kind in ("processors", "exporters") for p in (ROOT / kind).iterdir()}
    assert {p for p in on_disk if p.is_dir() and (p / "__init__.py").is_file()} == folders
    for kind, factory in ALL.items():
        testdata = testdata_dir(factory)
        assert (testdata / "config.yaml").is_file(), f"{kind}: add {testdata}/config.yaml"
        assert golden_cases(testdata), f"{kind}: add a golden case under {testdata}"


@pytest.mark.parametrize("kind", sorted(ALL))
def test_config(kind: str, tmp_path: Path) -> None:
    factory = ALL[kind]
    values = {"tmp": str(tmp_path), "capture": "http://127.0.0.1:9", "port": "9"}
    assert isinstance(load_config(factory, testdata_dir(factory), values), factory.config_model)


@pytest.mark.parametrize("kind", sorted(PROCESSORS))
def test_processor_lifecycle(kind: str) -> None:
    check_processor_lifecycle(PROCESSORS[kind], testdata_dir(PROCESSORS[kind]))


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(k, marks=pytest.mark.xfail(reason=NOT_RESTORED[k])) if k in NOT_RESTORED else k
        for k in sorted(PROCESSORS)
    ],
)
def test_processor_state_round_trip(kind: str, tmp_path: Path) -> None:
    factory = PROCESSORS[kind]
    check_state_round_trip(factory, testdata_dir(factory), tmp_path, IN_MEMORY.get(kind, ()))


@pytest.mark.parametrize("kind", sorted(EXPORTERS))
def test_exporter_lifecycle(kind: str, tmp_path: Path) -> None:
    check_exporter_lifecycle(EXPORTERS[kind], testdata_dir(EXPORTERS[kind]), tmp_path)


@pytest.mark.parametrize(("kind", "case"), CASES)
def test_golden(kind: str, case: str, tmp_path: Path) -> None:
    answer = check_golden(ALL[kind], testdata_dir(ALL[kind]) / case, tmp_path)
    assert any(answer.values()), f"{kind}/{case}: the case produces nothing to compare"


# -- shared with tests/test_store_faults.py ---------------------------------------------


def settings(kind: str, model: Any, tmp_path: Path) -> Any:
    """A type's ``testdata/config.yaml`` (test-only types: their defaults)."""
    if kind not in ALL:
        return model.model_validate({})
    return load_config(ALL[kind], testdata_dir(ALL[kind]), {"tmp": str(tmp_path)})


def batches() -> list[Any]:
    """A small span, metric and log batch."""
    decoder = Decoder()
    return [
        decoder.spans(trace_request(spans=5))[0],
        decoder.metrics(metrics_request(points=3))[0],
        decoder.logs(logs_request(records=2))[0],
    ]
