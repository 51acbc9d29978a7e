"""The front-tier Collector configs use components and keys of the current Collector release,
and the otel-perf tier configs are valid otel-perf configs (checked by `otel-perf validate`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
SCALE_OUT = ROOT / "deploy" / "scale-out"
COMPONENTS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "testdata" / "collector" / "components.json").read_text()
)
KINDS = ("receivers", "processors", "exporters", "extensions")
COLLECTOR_CONFIGS = sorted(SCALE_OUT.glob("collector-*.yaml"))
COLLECTOR_CONFIGS = [p for p in COLLECTOR_CONFIGS if not p.name.endswith("-k8s.yaml")]
OTEL_PERF_CONFIGS = sorted(SCALE_OUT.glob("otel-perf-*.yaml"))


def _keys(value: Any, allowed: Any, path: str) -> list[str]:
    """Every key of value that the vendored description does not allow, by path."""
    if allowed is None or allowed == "*" or value is None:
        return []
    if not isinstance(value, dict):
        return [f"{path}: expected a mapping, got {type(value).__name__}"]
    problems = []
    for key, sub in value.items():
        if key not in allowed:
            problems.append(f"{path}.{key}: unknown key (known: {', '.join(sorted(allowed))})")
        else:
            problems += _keys(sub, allowed[key], f"{path}.{key}")
    return problems


def _check_components(config: dict[str, Any]) -> list[str]:
    problems = []
    for kind in KINDS:
        for component_id, settings in (config.get(kind) or {}).items():
            type_ = component_id.split("/", 1)[0]
            known = COMPONENTS.get(kind, {})
            if type_ not in known:
                renamed = COMPONENTS["renamed"].get(f"{kind}/{type_}")
                hint = f"; {renamed}" if renamed else ""
                problems.append(f"{kind}.{component_id}: unknown {kind[:-1]} type{hint}")
                continue
            problems += _keys(settings, known[type_]["keys"], f"{kind}.{component_id}")
    return problems


def _check_pipelines(config: dict[str, Any]) -> list[str]:
    problems = []
    service = config.get("service") or {}
    for ext in service.get("extensions", []):
        if ext not in (config.get("extensions") or {}):
            problems.append(f"service.extensions: {ext} is not declared")
    for name, pipeline in (service.get("pipelines") or {}).items():
        signal = name.split("/", 1)[0]
        for kind in ("receivers", "processors", "exporters"):
            for component_id in pipeline.get(kind, []):
                path = f"service.pipelines.{name}.{kind}"
                settings = (config.get(kind) or {}).get(component_id, False)
                if settings is False:
                    problems.append(f"{path}: {component_id} is not declared under {kind}")
                    continue
                known = COMPONENTS.get(kind, {}).get(component_id.split("/", 1)[0])
                if known and signal not in known["signals"]:
                    problems.append(f"{path}: {component_id} does not handle {signal}")
                keys = (known or {}).get("routing_keys")
                if keys and (settings or {}).get("routing_key", "traceID") not in keys[signal]:
                    problems.append(
                        f"{path}: {component_id} routing_key "
                        f"{(settings or {}).get('routing_key')!r} is not supported for {signal} "
                        f"(supported: {', '.join(keys[signal])})"
                    )
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            problems.append(f"service.pipelines.{name}: needs receivers and exporters")
    return problems


def check_collector_config(text: str) -> list[str]:
    config = yaml.safe_load(text)
    return _check_components(config) + _check_pipelines(config)


def test_the_scale_out_folder_has_a_front_collector_config() -> None:
    assert [p.name for p in COLLECTOR_CONFIGS] == ["collector-front.yaml"]


@pytest.mark.parametrize("path", COLLECTOR_CONFIGS, ids=lambda p: p.name)
def test_collector_config_uses_current_components_and_keys(path: Path) -> None:
    assert check_collector_config(path.read_text()) == []


def test_front_collector_routes_traces_by_trace_id_and_metrics_by_service() -> None:
    config = yaml.safe_load((SCALE_OUT / "collector-front.yaml").read_text())
    pipelines = config["service"]["pipelines"]
    exporters = config["exporters"]
    (traces_lb,) = [e for e in pipelines["traces"]["exporters"] if e.startswith("loadbalancing")]
    metrics_lb = [e for e in pipelines["metrics"]["exporters"] if e.startswith("loadbalancing")]
    assert exporters[traces_lb]["routing_key"] == "traceID"
    assert exporters[traces_lb]["resolver"]["dns"]["hostname"].startswith("otel-perf-trace.")
    assert [exporters[e]["routing_key"] for e in metrics_lb] == ["service"]
    assert exporters[metrics_lb[0]]["resolver"]["dns"]["hostname"].startswith("otel-perf-analysis.")
    for lb in (traces_lb, *metrics_lb):  # the resolver supplies the endpoint
        assert "endpoint" not in exporters[lb]["protocol"]["otlp"]
    for pipeline in pipelines.values():
        assert pipeline["processors"][0] == "memory_limiter"


BAD_COLLECTOR = """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 0.0.0.0:4317, max_recv_msg_size: 4}
processors:
  spanmetrics: {}
exporters:
  logging: {}
  loadbalancing:
    routing_key: metric
    protocol: {otlp: {tls: {insecure: true}}}
    resolver: {dns: {hostname: x, port: "4317"}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmetrics]
      exporters: [loadbalancing, otlp/missing]
"""


def test_checker_rejects_unknown_keys_renamed_components_and_bad_routing() -> None:
    problems = check_collector_config(BAD_COLLECTOR)
    text = "\n".join(problems)
    assert "receivers.otlp.protocols.grpc.max_recv_msg_size: unknown key" in text
    assert (
        "processors.spanmetrics: unknown processor type; deprecated in favour of connectors" in text
    )
    assert (
        "exporters.logging: unknown exporter type; deprecated in favour of exporters/debug" in text
    )
    assert "routing_key 'metric' is not supported for traces" in text
    assert "otlp/missing is not declared under exporters" in text
    assert len(problems) == 5


def test_vendored_description_records_its_sources() -> None:
    sources = COMPONENTS["sources"]
    for name in ("loadbalancing exporter", "otlp receiver", "batch processor"):
        assert "@" in sources[name] and "open-telemetry/" in sources[name]
    routing = COMPONENTS["exporters"]["loadbalancing"]["routing_keys"]
    assert "service" in routing["metrics"] and "traceID" not in routing["metrics"]


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OTEL_PERF_API_TOKEN": "test-token"}
    return subprocess.run(
        [sys.executable, "-m", "otel_perf.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("path", OTEL_PERF_CONFIGS, ids=lambda p: p.name)
def test_otel_perf_tier_config_validates(path: Path) -> None:
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{path}: valid"


def test_tier_configs_are_the_two_tiers() -> None:
    assert [p.name for p in OTEL_PERF_CONFIGS] == [
        "otel-perf-analysis-tier.yaml",
        "otel-perf-trace-tier.yaml",
    ]
    trace = yaml.safe_load((SCALE_OUT / "otel-perf-trace-tier.yaml").read_text())
    analysis = yaml.safe_load((SCALE_OUT / "otel-perf-analysis-tier.yaml").read_text())
    assert trace["service"]["pipelines"]["traces"]["processors"] == ["spanmetrics", "bottlenecks"]
    # the trace tier sends exact aggregates to the analysis tier, which merges them first
    assert trace["service"]["pipelines"]["traces"]["exporters"] == ["otlp_aggregates", "otlp"]
    spanmetrics = trace["processors"]["spanmetrics"]
    assert spanmetrics["resource_dimensions"] == ["service.version"]
    metrics = analysis["service"]["pipelines"]["metrics"]["processors"]
    assert metrics == ["aggregates", "slo", "anomaly", "regression", "capacity"]


def test_otel_perf_validate_rejects_a_broken_tier_config(tmp_path: Path) -> None:
    text = (SCALE_OUT / "otel-perf-trace-tier.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("max_series_per_service: 1000", "max_series_per_servic: 1000"))
    result = _validate(broken)
    assert result.returncode == 2
    assert "processors.spanmetrics.max_series_per_servic" in result.stderr + result.stdout
