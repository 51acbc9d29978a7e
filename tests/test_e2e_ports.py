"""Ports: nothing is shared silently and a clash stops the start before anything listens,
naming the port and the setting to change; unknown API paths answer JSON 404; the start-up
log says where the API, dashboard and scrape endpoint are, and when telemetry first arrives."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import DEFAULT, HERE, SidecarProcess, poll, send_traces, start_sidecar
from otlp_builders import metrics_request, trace_request
from ports import free_port

from otel_perf.config import load_config
from otel_perf.config.models import OTLPReceiverConfig
from otel_perf.receiver.grpc import GrpcReceiver
from otel_perf.sidecar import Sidecar
from otel_perf.sidecar.listeners import PortClash

pytestmark = pytest.mark.e2e

PROMETHEUS = DEFAULT.replace(
    "service:\n", 'exporters:\n  prometheus: {{endpoint: "127.0.0.1:{prom}"}}\nservice:\n'
).replace(
    "metrics: {{receivers: [otlp]}}", "metrics: {{receivers: [otlp], exporters: [prometheus]}}"
)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    tmp = tmp_path_factory.mktemp("first")
    prom = free_port()
    sidecar = start_sidecar(tmp, PROMETHEUS.replace("{prom}", str(prom)))
    sidecar.prometheus = prom  # type: ignore[attr-defined]
    try:
        yield sidecar
    finally:
        assert sidecar.stop() == 0, sidecar.log()


def run_second(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    """``otel-perf run`` with ``config``, expected to fail at start."""
    path = tmp_path / "second.yaml"
    path.write_text(config)
    command = [sys.executable, str(HERE / "sidecar_main.py"), "run", "-c", str(path)]
    command += ["--store", str(tmp_path / "second.db")]
    environment = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=environment, check=False
    )


def test_a_second_sidecar_on_the_same_grpc_port_fails_at_start(
    first: SidecarProcess, tmp_path: Path
) -> None:
    config = DEFAULT.format(grpc=first.grpc, http=free_port(), api=free_port())
    result = run_second(tmp_path, config)
    assert result.returncode == 1, result.stderr
    output = result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{first.grpc} (receivers.otlp.protocols.grpc.endpoint)" in (
        output
    )
    assert f"port {first.grpc} is in use" in output
    assert "change receivers.otlp.protocols.grpc.endpoint" in output
    assert "listening" not in output
    assert first.alive() and first.metrics()  # the first one is untouched


def test_every_clash_is_named_at_once(first: SidecarProcess, tmp_path: Path) -> None:
    prom: int = first.prometheus  # type: ignore[attr-defined]
    config = PROMETHEUS.format(grpc=free_port(), http=first.http, api=first.api, prom=prom)
    result = run_second(tmp_path, config)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "otel-perf run: 3 ports cannot be used:"
    assert [line.split(" (")[1].split(")")[0] for line in lines[1:]] == [
        "receivers.otlp.protocols.http.endpoint",
        "extensions.api.endpoint",
        "exporters.prometheus.endpoint",
    ]
    assert "listening" not in result.stdout + result.stderr


def test_grpc_never_shares_its_port() -> None:
    """SO_REUSEPORT is off: without it grpcio would let a second server bind the port and
    the kernel would split connections between the two."""
    port = free_port()
    settings = OTLPReceiverConfig.model_validate(
        {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{port}"}}}
    )
    config = load_config(text="receivers: {otlp: {}}")
    sidecar = Sidecar(config, store_path=":memory:")
    one, two = GrpcReceiver(settings, sidecar.pipeline), GrpcReceiver(settings, sidecar.pipeline)
    assert one.start() == port
    try:
        with pytest.raises(OSError, match=f"cannot listen for OTLP/gRPC on 127.0.0.1:{port}"):
            two.start()
    finally:
        one.stop(0)


def test_a_clash_starts_nothing_and_logs_no_listening(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = load_config(text=DEFAULT.format(grpc=free_port(), http=free_port(), api=port))
        sidecar = Sidecar(config, store_path=":memory:")
        with caplog.at_level(logging.INFO), pytest.raises(PortClash) as caught:
            sidecar.start()
    assert str(caught.value) == (
        f"cannot listen on 127.0.0.1:{port} (extensions.api.endpoint): port {port} is in use "
        "(by another otel-perf, or another program); change extensions.api.endpoint"
    )
    assert not [r for r in caplog.records if "listening" in r.getMessage()]
    assert sidecar.ports.grpc == {} and sidecar.ports.api is None


def test_one_port_twice_in_a_config() -> None:
    port = free_port()
    config = load_config(text=DEFAULT.format(grpc=port, http=port, api=0))
    with pytest.raises(PortClash, match=f"port {port} is set twice, in receivers.otlp.protocols"):
        Sidecar(config, store_path=":memory:").start()


def test_unknown_paths_answer_json_404(first: SidecarProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        first.get("/performance/nope")
    assert caught.value.code == 404
    assert caught.value.headers["content-type"] == "application/json"
    body = json.load(caught.value)
    assert body == {
        "error": "no such path: /performance/nope (the API's paths are listed in "
        "/performance/openapi.json; the dashboard is at /dashboard)"
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{first.api}/performance/findings", method="DELETE"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405
    assert json.load(refused.value) == {"error": "DELETE is not allowed on /performance/findings"}


def test_start_up_log_names_the_urls_and_first_telemetry(first: SidecarProcess) -> None:
    log = first.log()
    base = f"http://127.0.0.1:{first.api}"
    assert f"dashboard: {base}/dashboard" in log
    assert f"API: {base}/performance/" in log
    prom = first.prometheus  # type: ignore[attr-defined]
    assert f"Prometheus scrape at http://127.0.0.1:{prom}/metrics" in log
    listening = log.index("listening for OTLP/grpc")
    assert listening < log.index("dashboard:")

    send_traces(first, [trace_request(service="greeter").SerializeToString()] * 2)
    import grpc

    with grpc.insecure_channel(first.grpc_endpoint) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
        )
        export(metrics_request(service="greeter").SerializeToString(), timeout=10)
    poll(first.log, lambda text: "first metrics received from service greeter" in text)
    text = first.log()
    assert text.count("first traces received from service greeter") == 1
