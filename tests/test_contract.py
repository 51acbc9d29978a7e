"""One contract suite over every component type this build registers (river's check_*,
the Collector's generated lifecycle tests): create, shutdown without start, start-consume-
shutdown, shutdown twice, input not mutated, same input same output."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from otlp_builders import logs_request, metrics_request, trace_request

from otel_perf.component import Context, exporter_types, processor_types
from otel_perf.decode import Decoder
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.store import Store

# a minimal valid config per type; a new component type must add one here
SAMPLES: dict[str, dict[str, Any]] = {
    "recording": {"emit_every_tick": True},
    "broken": {},
    "spanmetrics": {"interval": "10s", "late_grace": "0s"},
    "anomaly": {"warm_up": 0},
    "slo": {"min_events": 0, "evaluation_interval": "1s"},
    "bottlenecks": {"trace_quiet_time": "0s", "evaluation_interval": "1s", "min_traces": 1},
    "regression": {"min_samples": 2, "version_window": 2, "baseline_intervals": 1},
    "capacity": {"min_history": "0s", "forecast_window": "1d"},
    "cache": {"min_events": 1, "evaluation_interval": "1s", "candidate_min_repeats": 2},
    "alertmanager": {"endpoint": "http://127.0.0.1:9", "timeout": "1s", "max_retries": 0},
    "jsonl": {"path": "{tmp}/findings.jsonl"},
    "otlp": {"endpoint": "http://127.0.0.1:9", "insecure": True, "timeout": "1s"},
    "prometheus": {"endpoint": "127.0.0.1:0"},
    "aggregates": {"expected_instances": 2, "grace": "0s"},
    "instrumentation": {"window": "1s", "min_self_time": "0s", "min_server_spans": 1},
    "incidents": {"overlap": "5m", "max_open": 10},
    "otlp_aggregates": {"endpoint": "127.0.0.1:9", "instance": "t1", "max_attempts": 1},
}
RAISES_BY_DESIGN = {"broken"}


def settings(kind: str, model: Any, tmp_path: Path) -> Any:
    assert kind in SAMPLES, f"add a sample config for component type {kind!r} to SAMPLES"
    body = {
        k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in SAMPLES[kind].items()
    }
    return model.model_validate(body)


def batches() -> list[Any]:
    decoder = Decoder()
    return [
        decoder.spans(trace_request(spans=5))[0],
        decoder.metrics(metrics_request(points=3))[0],
        decoder.logs(logs_request(records=2))[0],
    ]


def frozen(items: list[Any]) -> list[Any]:
    """A deep copy of every record's fields, to compare before and after."""
    return [
        [copy.deepcopy([getattr(r, name) for name in type(r).__slots__]) for r in batch]
        for batch in items
    ]


def feed(processor: Any, items: list[Any]) -> list[Finding]:
    spans, points, logs = items
    processor.consume_spans(spans)
    processor.consume_metrics(points)
    processor.consume_logs(logs)
    return list(processor.tick(1_700_000_010_000_000_000))


@pytest.mark.parametrize("kind", sorted(processor_types()))
def test_processor_contract(kind: str, tmp_path: Path) -> None:
    factory = processor_types()[kind]
    store = Store(tmp_path / "s.db")

    def create() -> Any:
        return factory.create(
            Context(f"{kind}/c", store), settings(kind, factory.config_model, tmp_path)
        )

    create().shutdown()  # shutdown without start
    if kind in RAISES_BY_DESIGN:
        return
    first, second = create(), create()
    items = batches()
    before = frozen(items)
    for processor in (first, second):
        processor.start()
    found_a, found_b = feed(first, items), feed(second, batches())
    assert [f.model_dump() for f in found_a] == [
        f.model_dump() for f in found_b
    ]  # same in, same out
    assert frozen(items) == before  # input not mutated
    assert isinstance(first.snapshot(), dict)
    first.flush(1_700_000_010_000_000_000)
    for processor in (first, second):
        processor.shutdown()
        processor.shutdown()  # twice is fine
    store.close()


@pytest.mark.parametrize("kind", sorted(exporter_types()))
def test_exporter_contract(kind: str, tmp_path: Path) -> None:
    factory = exporter_types()[kind]
    store = Store(":memory:")
    config = settings(kind, factory.config_model, tmp_path)
    factory.create(Context(kind, store), config).shutdown()  # without start
    exporter = factory.create(Context(kind, store), config)
    exporter.start()
    finding = Finding(
        kind=Kind.RECOMMENDATION,
        severity=Severity.INFO,
        service="s",
        subject="x",
        time_ns=1,
        summary="try this",
    )
    exporter.export([finding])
    exporter.flush()
    exporter.shutdown()
    exporter.shutdown()
    assert finding.summary == "try this"
