"""Findings out of the box: the embedded default exports to Prometheus on 127.0.0.1:9464,
and over OTLP when the standard variables name an endpoint that is not otel-perf itself;
``otel-perf run`` with no file starts on a fresh machine and says where everything is."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e import poll
from ports import free_port

from otel_perf.config import Config, ConfigError
from otel_perf.config.loader import load_embedded
from otel_perf.exporters.otlp.config import OTLPExporterConfig
from otel_perf.exporters.prometheus.config import PrometheusExporterConfig


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Config]:
    """``env(NAME=value, ...)``: the embedded default loaded with exactly these OTEL_*
    variables set."""
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)

    def load(**variables: str) -> Config:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return load_embedded()

    return load


def test_the_default_exports_to_prometheus_on_loopback(env: Callable[..., Config]) -> None:
    config = env()
    prometheus = config.exporters["prometheus"]
    assert isinstance(prometheus, PrometheusExporterConfig)
    assert prometheus.endpoint == "127.0.0.1:9464"
    assert set(config.exporters) == {"prometheus"}
    pipelines = config.service.pipelines
    assert pipelines["traces"].exporters == pipelines["metrics"].exporters == ["prometheus"]
    moved = env(OTEL_PERF_PROMETHEUS_ENDPOINT="0.0.0.0:9999")
    assert moved.exporters["prometheus"].endpoint == "0.0.0.0:9999"  # type: ignore[attr-defined]


def test_the_otlp_variables_add_an_otlp_exporter(env: Callable[..., Config]) -> None:
    config = env(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4317")
    otlp = config.exporters["otlp"]
    assert isinstance(otlp, OTLPExporterConfig)
    assert (otlp.events, otlp.metrics, otlp.endpoint) == (True, True, None)  # env applies
    pipelines = config.service.pipelines
    assert pipelines["traces"].exporters == ["prometheus", "otlp"]
    assert pipelines["metrics"].exporters == ["prometheus", "otlp"]
    assert pipelines["logs"].exporters == ["otlp"]  # instrumentation health reads logs too


@pytest.mark.parametrize(
    ("variable", "events", "metrics"),
    [
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", True, False),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", False, True),
    ],
)
def test_a_signal_specific_variable_exports_that_signal(
    env: Callable[..., Config], variable: str, events: bool, metrics: bool
) -> None:
    config = env(
        **{variable: "http://collector:4318/v1/x", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    )
    otlp = config.exporters["otlp"]
    assert isinstance(otlp, OTLPExporterConfig)
    assert (otlp.events, otlp.metrics, otlp.protocol) == (events, metrics, "http/protobuf")


def test_no_otlp_exporter_for_traces_only(env: Callable[..., Config]) -> None:
    assert "otlp" not in env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://collector:4317").exporters


def test_no_otlp_exporter_to_itself(
    env: Callable[..., Config], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "otel_perf.config"):
        looping = env(OTEL_EXPORTER_OTLP_ENDPOINT="http://localhost:4317")
    assert "otlp" not in looping.exporters
    assert "that is this otel-perf's own receiver" in caplog.text
    assert "otlp" in env(OTEL_PERF_GRPC_ENDPOINT="127.0.0.1:5317").exporters


def test_an_unsupported_protocol_names_the_variable(env: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match='OTEL_EXPORTER_OTLP_PROTOCOL is "http/json"'):
        env(
            OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
        )


@pytest.mark.e2e
def test_run_without_a_config_file_starts_and_says_where_things_are(tmp_path: Path) -> None:
    """What ``make run`` does on a fresh machine: no file, a new store in the directory."""
    ports = {name: free_port() for name in ("GRPC", "HTTP", "API", "PROMETHEUS")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {f"OTEL_PERF_{name}_ENDPOINT": f"127.0.0.1:{port}" for name, port in ports.items()}
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "otel_perf.cli", "run"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        scrape = f"http://127.0.0.1:{ports['PROMETHEUS']}/metrics"
        poll(
            log.read_text,
            lambda text: (
                "running (config: <embedded default>" in text or process.poll() is not None
            ),
        )
        text = log.read_text()
        assert process.poll() is None, text
        assert f"Prometheus scrape at {scrape}" in text
        assert f"dashboard: http://127.0.0.1:{ports['API']}/dashboard" in text
        with urllib.request.urlopen(scrape, timeout=10) as response:
            assert b"otel_perf_" in response.read()
        assert (tmp_path / "otel-perf.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
