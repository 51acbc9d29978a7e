"""Auto-scaling configs: schema-valid HPA and KEDA YAML, the HPA formula, capacity, schedule."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from otel_perf.processors.capacity.autoscaling import (
    ScalingInputError,
    ScalingPlan,
    ScalingRequest,
    UsageHistory,
    hpa_desired,
    infer_kind,
    learn_capacity,
    plan_autoscaling,
)
from otel_perf.processors.capacity.forecast import Forecast
from otel_perf.processors.capacity.manifests import (
    cron_triggers,
    hpa_yaml,
    keda_yaml,
    schedule_view,
)

SCHEMAS = Path(__file__).parents[2] / "testdata" / "schemas"
T0 = 1_700_000_000.0 - (1_700_000_000.0 % 86_400)  # a UTC midnight
# the API server's rules the OpenAPI schema leaves out (k8s.io/kubernetes validation.go)
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(m|k|Ki|Mi|Gi|Ti|Pi|Ei|[KMGTPE]|[eE][+-]?\d+)?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _closed(schema: Any) -> Any:
    """Reject unknown fields as ``kubectl apply`` (strict field validation) does for CRDs."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def _load(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text())


HPA_SCHEMA = _load("horizontalpodautoscaler-autoscaling-v2.json")
KEDA_SCHEMA = _closed(_load("keda-scaledobject-v1alpha1.json"))
# a CRD's metadata is the ordinary ObjectMeta; check it against Kubernetes' own definition
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
KEDA_SCHEMA["properties"]["metadata"] = {"$ref": f"#/$defs/{OBJECT_META}"}
KEDA_SCHEMA["$defs"] = HPA_SCHEMA["$defs"]


def _validate(schema: Any, doc: Any) -> None:
    jsonschema.Draft202012Validator(schema).validate(doc)


def _hourly_forecast(days: int, base: float, amplitude: float, peak_hour: int) -> Forecast:
    """A daily-shaped forecast of ``days`` hourly steps after ``T0``; band ±10 %."""
    steps = np.arange(1, days * 24 + 1)
    hour = (steps - 1) % 24
    mean = base + amplitude * np.cos(2 * np.pi * (hour - peak_hour) / 24)
    return Forecast(mean, mean * 0.9, mean * 1.1, "synthetic", (), 3600.0, 0.9)


def _history(n: int = 24 * 7, base: float = 6.0, amplitude: float = 4.0) -> UsageHistory:
    t = T0 - 3600.0 * np.arange(n)[::-1]  # the last sample at T0
    hour = (t // 3600) % 24
    values = base + amplitude * np.cos(2 * np.pi * (hour - 15) / 24)
    return UsageHistory(t, values)


def _plan(kind: str, bounds: bool) -> ScalingPlan:
    extra: dict[str, Any] = {"min_replicas": 2, "max_replicas": 30} if bounds else {}
    request = ScalingRequest(resource=kind, service="checkout-api", **extra)
    capacity = 40.0 if kind == "requests" else 0.5  # req/s per pod, or cores requested
    usage = _history(base=6.0 * (80 if kind == "requests" else 1))
    fc = _hourly_forecast(2, 6.0 * (80 if kind == "requests" else 1), 4.0, 15)
    return plan_autoscaling(
        request, usage, per_replica_capacity=capacity, current_replicas=8, fc=fc
    )


def _body(text: str) -> Any:
    return yaml.safe_load(text)


def _check_api_rules(spec: dict[str, Any], behavior: dict[str, Any]) -> None:
    for rules in behavior.values():
        assert 0 <= rules["stabilizationWindowSeconds"] <= 3600
        assert rules["selectPolicy"] in {"Max", "Min", "Disabled"}
        assert rules["policies"]
        for policy in rules["policies"]:
            assert policy["type"] in {"Pods", "Percent"}
            assert 0 < policy["periodSeconds"] <= 1800 and policy["value"] > 0


@pytest.mark.parametrize("bounds", [False, True], ids=["computed", "given"])
@pytest.mark.parametrize("kind", ["cpu", "memory", "requests"])
def test_hpa_validates_against_the_autoscaling_v2_schema(kind: str, bounds: bool) -> None:
    plan = _plan(kind, bounds)
    doc = _body(hpa_yaml(plan))
    _validate(HPA_SCHEMA, doc)
    spec = doc["spec"]
    assert (doc["apiVersion"], doc["kind"]) == ("autoscaling/v2", "HorizontalPodAutoscaler")
    assert DNS_LABEL.match(doc["metadata"]["name"]) and doc["metadata"]["name"] == "checkout-api"
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "checkout-api",
    }
    assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
    if bounds:
        assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 30)
    _check_api_rules(spec, spec["behavior"])
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    (metric,) = spec["metrics"]
    if kind == "requests":
        target = metric["pods"]["target"]
        assert metric["type"] == "Pods" and target["type"] == "AverageValue"
        assert QUANTITY.match(target["averageValue"]) and target["averageValue"] == "32"  # 40×0.8
    else:
        assert metric == {
            "type": "Resource",
            "resource": {
                "name": kind,
                "target": {
                    "type": "Utilization",
                    "averageUtilization": 70 if kind == "cpu" else 80,
                },
            },
        }


@pytest.mark.parametrize("bounds", [False, True], ids=["computed", "given"])
@pytest.mark.parametrize("kind", ["cpu", "memory", "requests"])
def test_keda_validates_against_the_scaledobject_crd_schema(kind: str, bounds: bool) -> None:
    plan = _plan(kind, bounds)
    doc = _body(keda_yaml(plan))
    _validate(KEDA_SCHEMA, doc)
    spec = doc["spec"]
    assert (doc["apiVersion"], doc["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    assert spec["scaleTargetRef"]["name"] == "checkout-api"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (
        plan.min_replicas,
        plan.max_replicas,
    )
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior == _body(hpa_yaml(plan))["spec"]["behavior"]
    _check_api_rules(spec, behavior)
    main, *crons = spec["triggers"]
    if kind == "requests":
        assert main["type"] == "prometheus" and main["metricType"] == "AverageValue"
        assert main["metadata"]["threshold"] == "32"
        assert 'job="checkout-api"' in main["metadata"]["query"]
        assert main["metadata"]["serverAddress"].startswith("http")
    else:
        assert main == {
            "type": kind,
            "metricType": "Utilization",
            "metadata": {"value": "70" if kind == "cpu" else "80"},
        }
    for cron in crons:
        meta = cron["metadata"]
        assert cron["type"] == "cron" and meta["start"] != meta["end"]
        assert plan.min_replicas < int(meta["desiredReplicas"]) <= plan.max_replicas


def test_the_schemas_reject_what_kubectl_would() -> None:
    doc = _body(hpa_yaml(_plan("cpu", False)))
    for broken in (
        {**doc, "spec": {**doc["spec"], "maxReplica": 3}},  # misspelt field
        {**doc, "spec": {**doc["spec"], "maxReplicas": "ten"}},
        {**doc, "apiVersion": "autoscaling/v1"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            _validate(HPA_SCHEMA, broken)
    keda = _body(keda_yaml(_plan("requests", False)))
    broken_keda = copy.deepcopy(keda)
    broken_keda["spec"]["triggers"][0]["metadata"]["threshold"] = 32  # must be a string
    with pytest.raises(jsonschema.ValidationError):
        _validate(KEDA_SCHEMA, broken_keda)
    del broken_keda["spec"]["scaleTargetRef"]
    with pytest.raises(jsonschema.ValidationError):
        _validate(KEDA_SCHEMA, broken_keda)
    broken_keda = copy.deepcopy(keda)
    broken_keda["spec"]["minReplicas"] = 2  # the HPA's name, not KEDA's
    with pytest.raises(jsonschema.ValidationError):
        _validate(KEDA_SCHEMA, broken_keda)


def test_yaml_starts_with_the_reasoning_as_comments_and_round_trips() -> None:
    plan = _plan("cpu", False)
    for text in (hpa_yaml(plan), keda_yaml(plan)):
        header = text[: text.index("apiVersion:")].splitlines()
        assert header and all(line.startswith("# ") for line in header)
        for line in plan.reasoning:
            assert f"# {line}" in header
        assert yaml.safe_load(text) == yaml.safe_load(yaml.safe_dump(yaml.safe_load(text)))
    assert any("HPA desired = ceil(8 × " in line for line in plan.reasoning)


def test_hpa_formula_on_known_numbers() -> None:
    # the Kubernetes docs' example: 200m against a 100m target doubles the replicas
    assert hpa_desired(1, 200, 100) == 2
    assert hpa_desired(3, 90, 60) == 5  # ceil(4.5)
    assert hpa_desired(10, 35, 70) == 5
    assert hpa_desired(4, 0.75, 0.7) == 4  # ratio 1.07: inside the 10 % tolerance
    assert hpa_desired(4, 0.75, 0.7, tolerance=0.0) == 5  # ceil(4.29)
    assert hpa_desired(3, 70, 70, tolerance=0.0) == 3  # exact: float noise adds no pod
    with pytest.raises(ValueError):
        hpa_desired(3, 50, 0)


def test_plan_applies_the_formula_now_and_at_every_schedule_point() -> None:
    # 10 pods requesting 1 core each, 9.1 cores used now: 91 % against a 70 % target
    t = T0 - 3600.0 * np.arange(48)[::-1]
    usage = UsageHistory(t, np.full(48, 9.1))
    fc = _hourly_forecast(2, 9.0, 5.0, 15)
    request = ScalingRequest(resource="cpu", workload="web", max_replicas=50)
    plan = plan_autoscaling(request, usage, current_replicas=10, per_replica_capacity=1.0, fc=fc)
    assert plan.current_utilization == pytest.approx(91.0)
    assert plan.current_desired == 13 == math.ceil(10 * 91 / 70)
    assert len(plan.schedule) == 48
    for entry in plan.schedule:
        util = 100 * entry.demand / (10 * 1.0)
        expected = math.ceil(10 * util / 70 - 1e-9)
        assert entry.replicas == min(plan.max_replicas, max(plan.min_replicas, expected))
        assert entry.replicas_safe >= entry.replicas
        assert entry.utilization_pct == pytest.approx(util)
    # min from p10 of the lower band, max from the upper band's peak + 20 % headroom
    assert plan.min_replicas == math.ceil(np.quantile(fc.lower, 0.1) / 0.7)
    assert plan.max_replicas == 50
    assert any("maxReplicas 50 as requested" in line for line in plan.reasoning)
    rec_max = math.ceil(float(fc.upper.max()) * 1.2 / 0.7)
    assert f"= {rec_max}" in " ".join(plan.reasoning)


def test_learned_capacity_from_usage_and_replicas_pairs() -> None:
    rng = np.random.default_rng(7)
    replicas = rng.integers(2, 12, size=200).astype(float)
    usage = 0.35 * replicas + rng.normal(0, 0.02, size=200)  # 0.35 cores per replica
    fit = learn_capacity(usage, replicas)
    assert fit.per_replica == pytest.approx(0.35, abs=0.003) and fit.pairs == 200
    assert fit.r2 > 0.99
    t = T0 - 3600.0 * np.arange(200)[::-1]
    history = UsageHistory(t, usage, replicas=replicas)
    request = ScalingRequest(resource="cpu", workload="api")
    fc = _hourly_forecast(2, 3.0, 1.0, 15)
    plan = plan_autoscaling(request, history, reference_utilization=50, fc=fc)
    # 0.35 cores per replica carried at 50 % → 0.7 cores at 100 %
    assert plan.capacity_source == "learned"
    assert plan.per_replica_capacity == pytest.approx(0.7, abs=0.01)
    assert plan.current_replicas == int(replicas[-1])
    assert "least squares through the origin over 200 samples" in plan.reasoning[0]
    with pytest.raises(ScalingInputError, match="usage.replicas: need 3 samples"):
        learn_capacity([1.0, 2.0, 3.0], [0, 0, 1])


def test_per_pod_utilization_is_demand_in_pods() -> None:
    t = T0 - 3600.0 * np.arange(24)[::-1]
    history = UsageHistory(t, np.full(24, 0.9), replicas=np.full(24, 4.0), per_pod_utilization=True)
    fc = _hourly_forecast(1, 3.6, 0.0, 0)
    plan = plan_autoscaling(ScalingRequest(resource="cpu", workload="w"), history, fc=fc)
    assert plan.capacity_source == "utilization" and plan.per_replica_capacity == 1.0
    assert plan.current_desired == math.ceil(4 * 90 / 70)  # 6
    assert {e.replicas for e in plan.schedule} == {6}


def test_schedule_follows_a_daily_forecast() -> None:
    fc = _hourly_forecast(2, 300.0, 200.0, 15)  # req/s, peak at 15:00 UTC, trough at 03:00
    request = ScalingRequest(resource="http.server.requests", workload="shop")
    plan = plan_autoscaling(request, _history(), per_replica_capacity=25.0, fc=fc)
    rows = schedule_view(plan)
    assert len(rows) == 48 and json.loads(json.dumps(rows)) == rows
    by_hour = {int(r["start_s"] // 3600) % 24: r["replicas"] for r in rows}
    assert by_hour[15] == max(by_hour.values()) == math.ceil(500 / 20)
    assert by_hour[3] == min(by_hour.values()) == math.ceil(100 / 20)
    assert by_hour[12] > by_hour[6]
    assert all(r["replicas_safe"] >= r["replicas"] for r in rows)
    assert plan.min_replicas == math.ceil(np.quantile(fc.lower, 0.1) / 20)
    assert plan.max_replicas == math.ceil(550 * 1.2 / 20)
    (cron,) = cron_triggers(plan)  # one window around the afternoon peak
    start, end = int(cron["metadata"]["start"].split()[1]), int(cron["metadata"]["end"].split()[1])
    assert start < 15 < end
    floor = int(cron["metadata"]["desiredReplicas"])
    assert all(by_hour[h] >= floor * 0.9 for h in range(start, end))


def test_schedule_from_the_built_in_forecast() -> None:
    history = _history(n=24 * 14, base=6.0, amplitude=4.0)  # cores, peak at 15:00 UTC
    request = ScalingRequest(resource="cpu", workload="batch", days=1)
    plan = plan_autoscaling(request, history, per_replica_capacity=0.5, current_replicas=10)
    assert len(plan.schedule) == 24 and plan.forecast_method.startswith("seasonal")
    peak = max(plan.schedule, key=lambda e: e.demand)
    assert int(peak.start_s // 3600) % 24 in (14, 15, 16)
    assert max(e.replicas for e in plan.schedule) == math.ceil(10 / 0.35 - 0.01)


@pytest.mark.parametrize(
    ("fields", "where", "says"),
    [
        ({"target_utilization": 0}, "target_utilization", "greater than or equal to 1"),
        ({"target_utilization": 150}, "target_utilization", "less than or equal to 100"),
        ({"min_replicas": 5, "max_replicas": 3}, "max_replicas", "at least min_replicas (5)"),
        ({"kind": "gpu"}, "kind", "'cpu', 'memory' or 'requests'"),
        ({"resource": "disk.io"}, "kind", "cannot infer the kind from resource 'disk.io'"),
        ({"workload": None, "service": None}, "workload", "give workload"),
        ({"workload": "Not_A_Label"}, "workload", "pattern"),
        ({"replicas": 3}, "replicas", "Extra inputs are not permitted"),
    ],
)
def test_bad_requests_name_the_field(fields: dict[str, Any], where: str, says: str) -> None:
    body = {"resource": "cpu", "workload": "web", **fields}
    with pytest.raises(ValidationError) as caught:
        ScalingRequest.model_validate(body)
    errors = caught.value.errors()
    assert any(e["loc"] == (where,) for e in errors), errors
    assert says in str(caught.value)


def test_kind_and_workload_are_derived() -> None:
    assert infer_kind("system.cpu.utilization") == "cpu"
    assert infer_kind("process.memory.usage") == "memory"
    assert infer_kind("http.server.request.rate") == "requests"
    assert infer_kind("disk.io") is None
    request = ScalingRequest(resource="container.memory.rss", service="Checkout Service")
    assert request.kind == "memory" and request.workload_name() == "checkout-service"
    with pytest.raises(ValidationError):
        request.target_utilization = 50  # type: ignore[misc]  # frozen


def test_bad_usage_is_rejected_with_where() -> None:
    t = T0 - 3600.0 * np.arange(5)[::-1]
    request = ScalingRequest(resource="cpu", workload="w")
    with pytest.raises(ScalingInputError, match=r"usage.values\[2\]: not a finite number"):
        plan_autoscaling(
            request, UsageHistory(t, [1, 2, float("nan"), 1, 1]), per_replica_capacity=1
        )
    with pytest.raises(ScalingInputError, match="per-replica capacity unknown"):
        plan_autoscaling(request, UsageHistory(t, [1, 2, 3, 1, 1]))
    with pytest.raises(ScalingInputError, match="strictly increasing"):
        plan_autoscaling(request, UsageHistory(t[::-1], [1, 2, 3, 1, 1]), per_replica_capacity=1)
    with pytest.raises(ScalingInputError, match="5 times for 4 values"):
        plan_autoscaling(request, UsageHistory(t, [1, 2, 3, 1]), per_replica_capacity=1)


def test_idle_service_stays_at_the_bounds() -> None:
    t = T0 - 3600.0 * np.arange(48)[::-1]
    request = ScalingRequest(resource="cpu", workload="idle", min_replicas=2)
    plan = plan_autoscaling(
        request, UsageHistory(t, np.zeros(48)), per_replica_capacity=1.0, current_replicas=5
    )
    assert plan.current_desired == 2 and plan.min_replicas == 2 and plan.max_replicas == 2
    assert "= 0, held to 2 by the bounds" in " ".join(plan.reasoning)
    assert {e.replicas for e in plan.schedule} == {2} and cron_triggers(plan) == []
    _validate(HPA_SCHEMA, yaml.safe_load(hpa_yaml(plan)))
    _validate(KEDA_SCHEMA, yaml.safe_load(keda_yaml(plan)))
