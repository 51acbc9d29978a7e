"""The jsonl exporter: one JSON finding per line, rotation, lifecycle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_perf.component import Context, exporter_types
from otel_perf.exporters.jsonl import JsonlConfig, JsonlExporter
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.store import Store


def finding(n: int = 0, **attributes: object) -> Finding:
    return Finding(
        kind=Kind.SLO_VIOLATION,
        severity=Severity.CRITICAL,
        service="checkout",
        subject=f"POST /pay #{n}",
        time_ns=1_700_000_000_000_000_000 + n,
        summary="p99 latency 1.2s over the 500ms objective",
        attributes={"p99_ms": 1200.5, "objective_ms": 500, **attributes},
        evidence={"trace_ids": ["4bf92f3577b34da6a3ce929d0e0e4736"]},
        source="slo/checkout",
    )


@pytest.fixture
def context() -> Iterator[Context]:
    store = Store(":memory:")
    yield Context("jsonl", store)
    store.close()


def make(context: Context, path: Path, **settings: object) -> JsonlExporter:
    config = JsonlConfig.model_validate({"path": str(path), **settings})
    return JsonlExporter(context, config)


def test_writes_one_valid_json_line_per_finding(context: Context, tmp_path: Path) -> None:
    path = tmp_path / "out" / "findings.jsonl"
    exporter = make(context, path)
    exporter.start()
    sent = [finding(1), finding(2, note="a\nb")]
    exporter.export(sent)
    exporter.export([finding(3)])

    # flushed after each export: readable before shutdown
    lines = path.read_text("utf-8").splitlines()
    assert len(lines) == 3
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert [Finding.model_validate_json(line) for line in lines] == [*sent, finding(3)]
    exporter.shutdown()


def test_appends_to_an_existing_file(context: Context, tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    for n in range(2):
        exporter = make(context, path)
        exporter.start()
        exporter.export([finding(n)])
        exporter.shutdown()
    assert len(path.read_text("utf-8").splitlines()) == 2


def test_rotates_at_max_bytes_keeping_one_old_file(context: Context, tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    line_size = len(finding(0).to_json()) + 1
    exporter = make(context, path, max_bytes=line_size * 2)
    exporter.start()
    for n in range(5):
        exporter.export([finding(n)])
    exporter.shutdown()

    old = Path(str(path) + ".1")
    assert [Finding.model_validate_json(x).subject for x in path.read_text().splitlines()] == [
        "POST /pay #4"
    ]
    assert [Finding.model_validate_json(x).subject for x in old.read_text().splitlines()] == [
        "POST /pay #2",
        "POST /pay #3",
    ]
    assert path.stat().st_size <= line_size * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.jsonl", "findings.jsonl.1"]


def test_a_line_larger_than_max_bytes_is_still_written(context: Context, tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    exporter = make(context, path, max_bytes=10)
    exporter.start()
    exporter.export([finding(1), finding(2)])
    exporter.shutdown()
    assert len(path.read_text().splitlines()) == 1
    assert len(Path(str(path) + ".1").read_text().splitlines()) == 1


def test_shutdown_is_safe_twice_and_without_start(context: Context, tmp_path: Path) -> None:
    never_started = make(context, tmp_path / "a.jsonl")
    never_started.shutdown()
    never_started.shutdown()
    assert not (tmp_path / "a.jsonl").exists()

    exporter = make(context, tmp_path / "b.jsonl")
    exporter.start()
    exporter.shutdown()
    exporter.shutdown()
    exporter.flush()


def test_export_when_not_running_raises(context: Context, tmp_path: Path) -> None:
    exporter = make(context, tmp_path / "a.jsonl")
    with pytest.raises(RuntimeError, match="not running"):
        exporter.export([finding()])


def test_config_requires_path_and_positive_max_bytes() -> None:
    with pytest.raises(ValueError, match="path"):
        JsonlConfig.model_validate({})
    with pytest.raises(ValueError, match="max_bytes"):
        JsonlConfig.model_validate({"path": "x", "max_bytes": 0})
    assert JsonlConfig(path="x").max_bytes == 100 * 1024 * 1024


def test_registered_as_jsonl(context: Context, tmp_path: Path) -> None:
    factory = exporter_types()["jsonl"]
    exporter = factory.create(context, factory.config_model(path=str(tmp_path / "f.jsonl")))
    assert isinstance(exporter, JsonlExporter)
    assert exporter.id == "jsonl"
