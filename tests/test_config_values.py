"""Config values that cannot be misread: a duration needs its unit, and ``${env:X}``
references work wherever a value can stand, flow mappings included."""

from __future__ import annotations

import pytest

from otel_perf.config import ConfigError, load_config
from otel_perf.config.models import APISettings, OTLPReceiverConfig
from otel_perf.processors.slo.config import SLOConfig

SLO = """\
processors:
  slo:
    objectives:
      - {{name: search, service: shop, latency: {{p99: {p99}}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [slo]}}
receivers: {{otlp: {{}}}}
"""


def test_a_bare_number_for_a_duration_names_the_path_and_the_unit() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(text=SLO.format(p99=300))
    (problem,) = caught.value.problems
    assert problem.path == "processors.slo.objectives[0].latency.p99"
    assert (problem.line, problem.column) == (4, 54)
    assert problem.message == (
        'a duration needs a unit: write "300ms" or "300s" (got the bare number 300)'
    )


@pytest.mark.parametrize(("written", "seconds"), [('"300ms"', 0.3), ("300ms", 0.3), ("2s", 2.0)])
def test_durations_with_units_load(written: str, seconds: float) -> None:
    config = load_config(text=SLO.format(p99=written))
    slo = config.processors["slo"]
    assert isinstance(slo, SLOConfig)
    assert slo.objectives[0].latency is not None
    assert slo.objectives[0].latency.p99 == pytest.approx(seconds)


def test_zero_needs_no_unit_and_python_callers_pass_seconds() -> None:
    config = load_config(text="receivers: {otlp: {retry_after: 0}}")
    otlp = config.receivers["otlp"]
    assert isinstance(otlp, OTLPReceiverConfig) and otlp.retry_after == 0
    assert OTLPReceiverConfig(retry_after=2.5).retry_after == 2.5  # type: ignore[arg-type]


def test_env_references_work_inside_flow_mappings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OP_TOKEN", "s3cret")
    monkeypatch.setenv("OP_PORT", "4999")
    config = load_config(
        text="""\
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:${env:OP_PORT}}, http: {}}}
extensions:
  api: {endpoint: "${env:OP_UNSET_API:-127.0.0.1:8090}", auth: {bearer_token: ${env:OP_TOKEN}}}
service:
  extensions: [api]
  pipelines: {traces: {receivers: [otlp]}}
"""
    )
    api = config.extensions["api"]
    assert isinstance(api, APISettings) and api.auth is not None
    assert api.auth.bearer_token.get_secret_value() == "s3cret"
    assert api.endpoint == "127.0.0.1:8090"
    otlp = config.receivers["otlp"]
    assert isinstance(otlp, OTLPReceiverConfig) and otlp.protocols.grpc is not None
    assert otlp.protocols.grpc.endpoint == "127.0.0.1:4999"


def test_env_references_in_flow_mappings_keep_errors_where_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OP_WAIT", "30")
    with pytest.raises(ConfigError) as caught:
        load_config(text="receivers:\n  otlp: {retry_after: ${env:OP_WAIT}, nope: 1}\n")
    problems = {p.path: p for p in caught.value.problems}
    assert problems["receivers.otlp.retry_after"].message.startswith(
        'a duration needs a unit: write "30ms" or "30s"'
    )
    assert problems["receivers.otlp.nope"].line == 2
    with pytest.raises(ConfigError, match="OP_SURELY_UNSET is not set"):
        load_config(text="extensions: {api: {auth: {bearer_token: ${env:OP_SURELY_UNSET}}}}")
