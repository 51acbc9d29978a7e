"""A recorded resource's history handed to :func:`~.autoscaling.plan_autoscaling`, with the
replicas and per-replica capacity from the configuration; the answer of the autoscaling route.
"""

from __future__ import annotations

from typing import Any

from otel_perf.processors.capacity.autoscaling import ScalingRequest, plan_autoscaling
from otel_perf.processors.capacity.autoscaling import UsageHistory as ScalingUsage
from otel_perf.processors.capacity.config import CapacityConfig
from otel_perf.processors.capacity.manifests import hpa_yaml, keda_yaml, schedule_view
from otel_perf.processors.capacity.usage import ResourceInfo

PLAN_FIELDS = (
    "kind",
    "workload",
    "target_utilization",
    "scale_down_threshold",
    "per_replica_capacity",
    "capacity_source",
    "current_replicas",
    "current_utilization",
    "current_desired",
    "min_replicas",
    "max_replicas",
    "trough_demand",
    "peak_demand",
    "forecast_method",
)


def per_replica_capacity(
    config: CapacityConfig, info: ResourceInfo, service: str, per_pod: bool
) -> float | None:
    """What one replica offers at 100 %: its request (cores, bytes) or ``capacity_rps``."""
    if per_pod:
        return None  # utilization per pod: capacity is 1 pod
    if info.kind == "requests":
        settings = config.replicas.get(service)
        return settings.capacity_rps if settings else None
    if info.kind in ("cpu", "memory"):
        value = getattr(config.amounts(config.requests, service), info.kind)
        return float(value) if value else None
    return None


def autoscaling_view(
    config: CapacityConfig,
    info: ResourceInfo,
    times_s: list[float],
    values: list[float],
    request: ScalingRequest,
) -> dict[str, Any]:
    """HPA and KEDA YAML, the plan's numbers and reasoning, and the replica schedule.

    Raises:
        ScalingInputError: the history or configuration cannot support a plan.
    """
    service = request.service or info.service
    settings = config.replicas.get(service)
    per_pod = info.unit == "1" and info.kind in ("cpu", "memory")
    plan = plan_autoscaling(
        request,
        ScalingUsage(times_s, values, per_pod_utilization=per_pod),
        current_replicas=settings.count if settings else None,
        per_replica_capacity=per_replica_capacity(config, info, service, per_pod),
    )
    return {
        "resource": info.name,
        "plan": {name: getattr(plan, name) for name in PLAN_FIELDS},
        "reasoning": list(plan.reasoning),
        "hpa_yaml": hpa_yaml(plan),
        "keda_yaml": keda_yaml(plan),
        "schedule": schedule_view(plan),
    }
