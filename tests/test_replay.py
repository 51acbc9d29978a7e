"""Replay of recorded OTLP JSON lines on event time, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from otlp_builders import BASE_NS, logs_request, metrics_request, trace_request

from otel_perf.cli.commands import main
from otel_perf.decode import message_to_json

CONFIG = """
receivers: {otlp: {}}
processors: {recording: {emit_every_tick: true}}
service:
  tick_interval: 1s
  pipelines:
    traces: {receivers: [otlp], processors: [recording]}
    metrics: {receivers: [otlp], processors: [recording]}
    logs: {receivers: [otlp], processors: [recording]}
"""


def recording(tmp_path: Path) -> Path:
    path = tmp_path / "telemetry.jsonl"
    lines = [
        json.dumps(message_to_json(trace_request(spans=2, seed=s, start_ns=BASE_NS + s * 10**9)))
        for s in range(4)
    ]
    lines.insert(2, "{broken json")
    lines.append(json.dumps(message_to_json(metrics_request(points=3))))
    lines.append(json.dumps(message_to_json(logs_request(records=2))))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_ticks_on_event_time_and_reports_bad_lines(
    tmp_path: Path,
    write_config,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    config = write_config(CONFIG)
    code = main(["replay", str(recording(tmp_path)), "--config", str(config), "-o", "json"])
    captured = capsys.readouterr()
    assert code == 1  # one line was bad; the others were still replayed
    assert "telemetry.jsonl:3: not JSON" in captured.err
    report = json.loads(captured.out)
    assert report["lines"] == 7 and report["items"] == 8 + 3 + 2 and report["errors"] == 1
    times = [f["time_ns"] for f in report["findings"]]
    first_end = BASE_NS + 5_000_000 + 1_000_000
    # ticks every second of event time after the first span, then one at the end
    assert times[:3] == [first_end + k * 10**9 for k in (1, 2, 3)][: len(times[:3])]
    assert times == sorted(times)


def test_replay_is_deterministic(tmp_path: Path, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    config = write_config(CONFIG)
    path = recording(tmp_path)
    main(["replay", str(path), "--config", str(config), "-o", "json"])
    first = capsys.readouterr().out
    main(["replay", str(path), "--config", str(config), "-o", "json"])
    assert capsys.readouterr().out == first


def test_replay_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_replay_of_recorded_traffic_finds_the_n_plus_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default pipeline (span metrics and bottlenecks) on a recording, fully offline."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from scenarios import generate

    traffic = generate("n_plus_one", traces=120)
    path = tmp_path / "recorded.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(message_to_json(ExportTraceServiceRequest.FromString(raw)))
            for raw in traffic.requests
        )
        + "\n"
    )
    assert main(["replay", str(path), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["items"] == traffic.spans
    n_plus_one = [f for f in report["findings"] if f["kind"] == "n_plus_one"]
    assert n_plus_one and n_plus_one[0]["attributes"]["parent_operation"] == "GET /orders"
    assert not [f for f in report["findings"] if f["kind"] == "slow_query"]
