"""Each anomaly says what was expected, what was seen, since when and which model judged it:
in the finding, the processor's snapshot (the API) and ``otel-perf anomaly score``."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from otel_perf.cli.commands import main
from otel_perf.component import Context
from otel_perf.model import MetricBatch, MetricPoint, MetricType, Resource
from otel_perf.processors.anomaly.config import AnomalyConfig
from otel_perf.processors.anomaly.detector import MODELS, Detector
from otel_perf.processors.anomaly.processor import AnomalyProcessor
from otel_perf.processors.anomaly.score_csv import ScoreError, score_file
from otel_perf.series import SeriesHub
from otel_perf.store import Store

S = 1_000_000_000
T0 = 1_700_000_000 * S
WORKER = Resource({"service.name": "worker"})


def noisy(n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [100 + rng.gauss(0, 2) for _ in range(n)]


def test_a_finding_carries_band_value_since_and_model(tmp_path: Path) -> None:
    processor = AnomalyProcessor(
        Context("anomaly", Store(tmp_path / "s.db"), SeriesHub()),
        AnomalyConfig.model_validate({"warm_up": 30}),
    )
    processor.start()
    values = [*noisy(200), 300.0, 310.0, *noisy(10, seed=2)]
    found = []
    for i, value in enumerate(values):
        point = MetricPoint(
            WORKER, "queue.depth", "", MetricType.GAUGE, {}, T0 + i * 10 * S, value=value
        )
        processor.consume_metrics(MetricBatch([point]))
        found += processor.tick(T0 + i * 10 * S)
    opened = found[0]
    attrs = opened.attributes
    assert attrs["value"] == 300.0
    assert attrs["expected_low"] < 110.0 and 95.0 < attrs["expected_high"] < 300.0
    assert attrs["model"].startswith("predictors:")
    assert attrs["start_ns"] == T0 + 200 * 10 * S
    assert attrs["since"] == "2023-11-14T22:46:40+00:00"
    assert "judged by predictors:" in opened.summary and "since 2023-11-14" in opened.summary
    view = processor.snapshot()["top_scores"][0]
    assert view["model"].startswith("predictors:")
    assert math.isfinite(view["expected_low"]) and math.isfinite(view["expected_high"])
    json.dumps(processor.snapshot(), allow_nan=False)  # the API can send it as it is


def test_each_model_is_named_when_it_judges() -> None:
    d = Detector()
    for i in range(600):
        d.score_one(60.0 * i, 10.0 + (i % 5) * 0.1)
    assert d.score_one(60.0 * 600, 10.2) < 0.5
    judged = d.explain()
    assert len(judged.scores) == len(judged.surprises) == len(MODELS)
    assert judged.expected_low < 10.2 < judged.expected_high
    assert d.score_one(60.0 * 601, 25.0) >= 0.5
    judged = d.explain()
    assert judged.model.startswith("predictors:") and judged.expected_high < 25.0
    for i in range(602, 700):  # normal again, past the refractory period
        d.score_one(60.0 * i, 10.0 + (i % 5) * 0.1)
    flagged = set()
    for i in range(700, 760):  # frozen: the flat-line model judges
        if d.score_one(60.0 * i, 10.3) >= 0.5:
            flagged.add(d.explain().model)
    assert flagged == {"flat_line"}


def write_csv(path: Path, values: list[float]) -> Path:
    rows = ["timestamp,value"]
    rows += [f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00,{v!r}" for i, v in enumerate(values)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_cli_prints_the_band_of_every_flagged_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = noisy(300)
    values[250] = 180.0
    csv_path = write_csv(tmp_path / "s.csv", values)
    assert main(["anomaly", "score", str(csv_path), "--anomalies", "-o", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["timestamp"] for r in rows] == ["2026-01-01T04:10:00"]
    assert 90.0 < rows[0]["expected_low"] < 100.0 < rows[0]["expected_high"] < 110.0
    assert rows[0]["anomaly"] is True and rows[0]["model"].startswith("predictors:")
    assert main(["anomaly", "score", str(csv_path), "--anomalies"]) == 0
    table = capsys.readouterr().out
    assert "expected band" in table and "ANOMALY" in table and "1 flagged" in table


def test_csv_errors_name_file_line_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2026-01-01 00:00:00,1\n2026-01-01 00:01:00,oops\n")
    assert main(["anomaly", "score", str(bad)]) == 1
    assert f"{bad}:3: value 'oops' is not a number" in capsys.readouterr().err
    bad.write_text("when,value\n1,2\n")
    with pytest.raises(ScoreError, match=r"bad.csv:1: need a time column"):
        score_file(bad)
    bad.write_text("t,value\n5,1\n4,1\n")
    with pytest.raises(ScoreError, match=r"bad.csv:3: time '4' is not after"):
        score_file(bad)
