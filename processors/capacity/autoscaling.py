"""Auto-scaling plans from a capacity forecast: replica bounds, the HPA formula, a schedule.

Everything is in units of *demand* ``D`` (total cores, bytes or requests/s over all pods) and
*per-replica capacity* ``C`` (what one replica offers at 100 %: its CPU/memory request, or the
requests/s it can serve). At a target utilisation ``u*`` the Kubernetes HPA converges on

    desired = ⌈current_replicas × current_utilization / u*⌉ = ⌈D / (C · u*)⌉

(``current_utilization = D / (current_replicas · C)``; the HPA skips changes within its 10 %
tolerance). :func:`plan_autoscaling` applies that formula to the current point and to every
hour of the forecast: the mean gives the expected replicas, the upper band the "safe" column
(AWS predictive scaling's forecast capacity). ``minReplicas`` covers the trough (p10 of the
lower band), ``maxReplicas`` the peak of the upper band plus headroom. The plan is rendered as
Kubernetes/KEDA objects by :mod:`~.manifests`.

``C`` is configured, or learned from a replicas series by least squares through the origin:
``usage_t ≈ k · replicas_t`` gives ``k = Σ u_t r_t / Σ r_t²``, the load one replica carried.
That load ran at some utilisation ``u_ref`` (by default the target, as under an HPA holding its
target), so ``C = k / u_ref``. With per-pod utilisation samples (0..1) the demand is
``utilization × replicas`` in pods-at-100 %, and ``C = 1``.

>>> hpa_desired(3, 0.9, 0.6)
5
>>> hpa_desired(4, 0.72, 0.7)  # within the 10 % tolerance: no change
4
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from otel_perf.processors.capacity.forecast import Forecast, forecast

Array = NDArray[np.float64]
MetricKind = Literal["cpu", "memory", "requests"]
HOUR_S = 3600.0
#: (scale-up target, scale-down threshold) in percent per metric kind
THRESHOLDS: dict[str, tuple[float, float]] = {
    "cpu": (70.0, 30.0),
    "memory": (80.0, 40.0),
    "requests": (80.0, 20.0),
}
HPA_TOLERANCE = 0.1  # kube-controller-manager's --horizontal-pod-autoscaler-tolerance
SCALE_DOWN_WINDOW_S = 300  # the HPA default: highest recommendation of the last 5 minutes
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_KIND_WORDS = (
    ("cpu", ("cpu", "core")),
    ("memory", ("mem", "rss", "heap", "bytes")),
    ("requests", ("request", "rps", "rate", "throughput", "calls", "qps")),
)


class ScalingInputError(ValueError):
    """The usage history or capacity cannot support a plan; the message says what is missing."""


def infer_kind(resource: str) -> MetricKind | None:
    """The metric kind a resource name implies (``system.cpu.utilization`` → cpu), or None."""
    name = resource.lower()
    for kind, words in _KIND_WORDS:
        if any(word in name for word in words):
            return kind  # type: ignore[return-value]
    return None


class ScalingRequest(BaseModel):
    """What to scale and how (also the body of ``POST /performance/capacity/autoscaling-config``).

    Attributes:
        resource: the usage series ("cpu", "memory", "requests" or a named resource).
        kind: cpu | memory | requests; inferred from ``resource`` when absent.
        target_utilization: percent of the per-replica capacity to hold (default per kind:
            cpu 70, memory 80, requests 80).
        min_replicas / max_replicas: fixed bounds; computed from the forecast when absent.
        service: the service the usage belongs to (names the workload by default and the
            span-metrics query).
        workload: the Deployment's name (default: the service as a DNS-1123 label).
        namespace: the Deployment's namespace.
        days: length of the replica schedule.
        headroom: fraction added above the forecast peak's upper band for ``maxReplicas``.
        pods_metric: HPA ``Pods`` metric for requests (served by a custom-metrics adapter).
        prometheus_address: Prometheus the KEDA trigger queries (requests kind).
        query: PromQL for the KEDA trigger (default: the service's span-metrics call rate).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource: str = Field(min_length=1, max_length=255)
    target_utilization: float | None = Field(default=None, ge=1, le=100)
    min_replicas: int | None = Field(default=None, ge=1, le=10_000)
    max_replicas: int | None = Field(default=None, ge=1, le=10_000)
    service: str | None = Field(default=None, min_length=1, max_length=255)
    workload: str | None = Field(
        default=None, max_length=63, pattern=_DNS_LABEL, validate_default=True
    )
    namespace: str = Field(default="default", max_length=63, pattern=_DNS_LABEL)
    kind: MetricKind | None = Field(default=None, validate_default=True)
    days: int = Field(default=2, ge=1, le=14)
    headroom: float = Field(default=0.2, ge=0, le=2)
    pods_metric: str = Field(default="http_server_request_rate", pattern=r"^[a-zA-Z_:][\w:.]*$")
    prometheus_address: str = Field(
        default="http://prometheus.monitoring.svc:9090", pattern=r"^https?://\S+$"
    )
    query: str | None = Field(default=None, min_length=1, max_length=2000)

    @field_validator("max_replicas")
    @classmethod
    def _max_not_below_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_replicas")
        if value is not None and low is not None and low > value:
            raise ValueError(f"must be at least min_replicas ({low}), got {value}")
        return value

    @field_validator("workload")
    @classmethod
    def _workload_or_service(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and not _dns_label(info.data.get("service") or ""):
            raise ValueError("give workload (the Deployment's name) or a service to derive it from")
        return value

    @field_validator("kind")
    @classmethod
    def _infer_kind(cls, value: MetricKind | None, info: ValidationInfo) -> MetricKind:
        if value is not None:
            return value
        resource = info.data.get("resource")
        kind = infer_kind(resource) if resource else None
        if kind is None:
            raise ValueError(
                f"cannot infer the kind from resource {resource!r}: give kind "
                "(one of 'cpu', 'memory', 'requests')"
            )
        return kind

    @property
    def metric_kind(self) -> MetricKind:
        """The kind, given or inferred (validation guarantees one)."""
        return self.kind or infer_kind(self.resource) or "cpu"

    def workload_name(self) -> str:
        """``workload``, else the service name made a DNS-1123 label."""
        return self.workload or _dns_label(self.service or "")


def _dns_label(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].rstrip("-")


@dataclass(frozen=True)
class UsageHistory:
    """Usage samples, oldest first.

    ``values`` are total demand in the resource's unit (cores, bytes, requests/s), or, with
    ``per_pod_utilization``, the average utilisation per pod (0..1, needs ``replicas``).
    ``replicas`` (optional) is the replica count at each sample.
    """

    times_s: Any
    values: Any
    replicas: Any = None
    per_pod_utilization: bool = False


@dataclass(frozen=True)
class CapacityFit:
    """``usage ≈ per_replica · replicas`` through the origin over ``pairs`` samples."""

    per_replica: float
    pairs: int
    r2: float  # uncentred: share of Σ usage² the line explains


@dataclass(frozen=True)
class ScheduleEntry:
    """One hour of the schedule: forecast demand and the replicas the HPA formula gives."""

    start_s: float
    demand: float
    demand_upper: float
    replicas: int
    replicas_safe: int
    utilization_pct: float | None  # at the current replica count


@dataclass(frozen=True)
class ScalingPlan:
    """All the numbers behind the generated configs, and why."""

    request: ScalingRequest
    kind: MetricKind
    workload: str
    target_utilization: float  # percent
    scale_down_threshold: float  # percent
    per_replica_capacity: float
    capacity_source: Literal["configured", "learned", "utilization"]
    capacity_fit: CapacityFit | None
    current_replicas: int | None
    current_utilization: float | None  # percent
    current_desired: int | None
    min_replicas: int
    max_replicas: int
    trough_demand: float
    peak_demand: float
    forecast_method: str
    schedule: tuple[ScheduleEntry, ...]
    reasoning: tuple[str, ...]

    @property
    def target_average_value(self) -> float:
        """Per-pod target in the resource's unit (requests/s per pod for requests)."""
        return self.per_replica_capacity * self.target_utilization / 100.0


def hpa_desired(
    current_replicas: int,
    current_utilization: float,
    target_utilization: float,
    tolerance: float = HPA_TOLERANCE,
) -> int:
    """``⌈current_replicas × current_utilization / target⌉``; unchanged within ``tolerance``.

    Utilisations in any one unit (fractions or percent); this is the formula of the
    Kubernetes HPA controller, tolerance included.
    """
    if current_replicas < 0 or target_utilization <= 0 or current_utilization < 0:
        raise ValueError("replicas and utilisation must be non-negative, the target positive")
    ratio = current_utilization / target_utilization
    if abs(ratio - 1.0) <= tolerance:
        return current_replicas
    return math.ceil(current_replicas * ratio - 1e-9)  # 1e-9: float noise must not add a pod


def learn_capacity(usage: Any, replicas: Any) -> CapacityFit:
    """Least squares through the origin of usage on replicas (pairs with replicas > 0)."""
    u = np.asarray(usage, dtype=np.float64)
    r = np.asarray(replicas, dtype=np.float64)
    if u.shape != r.shape:
        raise ScalingInputError(f"usage.replicas: {r.size} values for {u.size} usage samples")
    ok = np.isfinite(u) & np.isfinite(r) & (r > 0)
    if ok.sum() < 3:
        raise ScalingInputError(f"usage.replicas: need 3 samples with replicas > 0, got {ok.sum()}")
    u, r = u[ok], r[ok]
    k = float(np.dot(u, r) / np.dot(r, r))
    total = float(np.dot(u, u))
    r2 = 1.0 - float(np.sum((u - k * r) ** 2)) / total if total > 0 else 0.0
    return CapacityFit(k, int(u.size), r2)


def demand_series(usage: UsageHistory, current_replicas: int | None = None) -> Array:
    """Total demand per sample (per-pod utilisation × replicas when that is what was given)."""
    values = _finite(usage.values, "usage.values")
    times = _finite(usage.times_s, "usage.times_s")
    if times.size != values.size:
        raise ScalingInputError(f"usage.times_s: {times.size} times for {values.size} values")
    if np.any(np.diff(times) <= 0):
        raise ScalingInputError("usage.times_s: must be strictly increasing")
    if not usage.per_pod_utilization:
        return values
    if usage.replicas is not None:
        replicas = _finite(usage.replicas, "usage.replicas")
        if replicas.size != values.size:
            raise ScalingInputError(f"usage.replicas: {replicas.size} values for {values.size}")
        return np.asarray(values * replicas, dtype=np.float64)
    if current_replicas is None:
        raise ScalingInputError("per-pod utilisation needs usage.replicas or current_replicas")
    return values * float(current_replicas)


def plan_autoscaling(
    request: ScalingRequest,
    usage: UsageHistory,
    *,
    current_replicas: int | None = None,
    per_replica_capacity: float | None = None,
    reference_utilization: float | None = None,
    fc: Forecast | None = None,
) -> ScalingPlan:
    """Bounds, current decision and hourly schedule for ``request`` from ``usage``.

    Args:
        request: what to scale.
        usage: the history; its last sample is "now".
        current_replicas: replicas now (default: the last of ``usage.replicas``).
        per_replica_capacity: configured ``C`` in the demand's unit; learned when absent.
        reference_utilization: percent at which the history's replicas ran, to turn a learned
            per-replica load into a capacity (default: the target).
        fc: a forecast of :func:`demand_series` (computed here when absent).
    """
    kind = request.metric_kind
    up, down = THRESHOLDS[kind]
    target = request.target_utilization or up
    demand = demand_series(usage, current_replicas)
    times = np.asarray(usage.times_s, dtype=np.float64)
    if current_replicas is None and usage.replicas is not None:
        current_replicas = int(round(float(np.asarray(usage.replicas, dtype=np.float64)[-1])))
    why: list[str] = []
    capacity, source, fit = _capacity(usage, per_replica_capacity, reference_utilization or target)
    why.append(_capacity_line(kind, capacity, source, fit, reference_utilization or target))
    if fc is None:
        interval_s = float(np.median(np.diff(times))) if times.size > 1 else HOUR_S
        fc = forecast(demand, interval_s, max(1, math.ceil(request.days * 86_400 / interval_s)))
    per_pod = capacity * target / 100.0
    trough = max(0.0, float(np.quantile(fc.lower, 0.10)))
    peak = float(np.max(fc.upper))
    rec_min = max(1, math.ceil(trough / per_pod - 1e-9))
    rec_max = max(rec_min, math.ceil(peak * (1.0 + request.headroom) / per_pod - 1e-9))
    low = request.min_replicas or rec_min
    high = max(request.max_replicas or rec_max, low)
    why += _bounds_lines(request, trough, peak, per_pod, rec_min, rec_max, low, high)
    util_now, desired_now = None, None
    if current_replicas:
        util_now = 100.0 * float(demand[-1]) / (current_replicas * capacity)
        raw = hpa_desired(current_replicas, util_now, target)
        desired_now = min(high, max(low, raw))
        why.append(
            f"now: {current_replicas} replicas at {util_now:.1f}% → HPA desired = "
            f"ceil({current_replicas} × {util_now:.1f} / {target:g}) = {raw}"
            + (" (within the 10% tolerance: unchanged)" if raw == current_replicas else "")
            + (f", held to {desired_now} by the bounds" if raw != desired_now else "")
        )
    schedule = _schedule(
        fc, float(times[-1]), request.days, capacity, target, low, high, current_replicas
    )
    if schedule:
        busiest = max(schedule, key=lambda e: e.replicas)
        why.append(
            f"schedule: {len(schedule)} hours from the forecast ({fc.method}); peak "
            f"{busiest.replicas} replicas at {utc_iso(busiest.start_s)}"
        )
    why.append(
        f"scale down below {down:g}% ({kind} default): at that level the fleet is "
        f"{target / down:.1f}x oversized; at most {scale_down_percent(target, down)}% of pods go "
        f"per minute (so the rest land at or under {target:g}%), after a {SCALE_DOWN_WINDOW_S}s "
        "stabilization window"
    )
    return ScalingPlan(
        request, kind, request.workload_name(), target, down, capacity, source, fit,
        current_replicas, util_now, desired_now, low, high, trough, peak, fc.method,
        tuple(schedule), tuple(why),
    )  # fmt: skip


def _finite(values: Any, where: str) -> Array:
    x = np.asarray(values, dtype=np.float64).ravel()
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ScalingInputError(f"{where}[{bad[0]}]: not a finite number")
    if x.size < 3:
        raise ScalingInputError(f"{where}: need at least 3 samples, got {x.size}")
    return x


def _capacity(
    usage: UsageHistory, configured: float | None, reference_pct: float
) -> tuple[float, Literal["configured", "learned", "utilization"], CapacityFit | None]:
    if configured is not None:
        if not (configured > 0 and math.isfinite(configured)):
            raise ScalingInputError(f"per_replica_capacity: must be > 0, got {configured}")
        return configured, "configured", None
    if usage.per_pod_utilization:
        return 1.0, "utilization", None
    if usage.replicas is None:
        raise ScalingInputError(
            "per-replica capacity unknown: give per_replica_capacity or usage.replicas to learn it"
        )
    fit = learn_capacity(usage.values, usage.replicas)
    if fit.per_replica <= 0:
        raise ScalingInputError("usage.replicas: learned per-replica usage is not positive")
    return fit.per_replica / (reference_pct / 100.0), "learned", fit


def _capacity_line(
    kind: str, capacity: float, source: str, fit: CapacityFit | None, ref: float
) -> str:
    if fit is not None:
        return (
            f"per-replica capacity {capacity:.4g} (learned: usage ≈ {fit.per_replica:.4g} × "
            f"replicas by least squares through the origin over {fit.pairs} samples, "
            f"R²={fit.r2:.3f}, taken as the load at {ref:g}%)"
        )
    if source == "utilization":
        return f"{kind} given as per-pod utilisation: demand in pods at 100%, capacity 1"
    return f"per-replica capacity {capacity:.4g} (configured)"


def _bounds_lines(
    request: ScalingRequest, trough: float, peak: float, per_pod: float,
    rec_min: int, rec_max: int, low: int, high: int,
) -> list[str]:  # fmt: skip
    lines = [
        f"target {per_pod:.4g} per pod; forecast trough (p10 of the lower band) {trough:.4g} → "
        f"min ceil({trough:.4g} / {per_pod:.4g}) = {rec_min}",
        f"forecast peak (upper band) {peak:.4g} + {request.headroom:.0%} headroom → "
        f"max ceil({peak * (1 + request.headroom):.4g} / {per_pod:.4g}) = {rec_max}",
    ]
    if request.min_replicas is not None:
        lines.append(f"minReplicas {low} as requested (forecast suggests {rec_min})")
    if request.max_replicas is not None:
        note = " — below the forecast need: peaks will run hot" if high < rec_max else ""
        lines.append(f"maxReplicas {high} as requested (forecast suggests {rec_max}){note}")
    return lines


def _schedule(
    fc: Forecast, last_s: float, days: int, capacity: float, target: float,
    low: int, high: int, current: int | None,
) -> list[ScheduleEntry]:  # fmt: skip
    step_end = last_s + fc.interval_s * np.arange(1, fc.mean.size + 1)
    first = math.ceil(last_s / HOUR_S) * HOUR_S
    reference = current or low

    def replicas(d: float) -> int:  # the HPA formula from the reference replica count
        util = 100.0 * max(d, 0.0) / (reference * capacity)
        return min(high, max(low, hpa_desired(reference, util, target, tolerance=0.0)))

    out: list[ScheduleEntry] = []
    for hour in range(days * 24):
        start = first + hour * HOUR_S
        lo = int(np.searchsorted(step_end, start, side="right"))
        hi = int(np.searchsorted(step_end - fc.interval_s, start + HOUR_S, side="left"))
        if lo >= step_end.size:
            break
        sl = slice(lo, max(hi, lo + 1))
        mean, upper = float(np.max(fc.mean[sl])), float(np.max(fc.upper[sl]))
        util_pct = 100.0 * mean / (current * capacity) if current else None
        out.append(ScheduleEntry(start, mean, upper, replicas(mean), replicas(upper), util_pct))
    return out


def utc_iso(t_s: float) -> str:
    """``t_s`` (Unix seconds) as a UTC ISO 8601 minute, e.g. ``2023-11-14T22:00Z``."""
    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def scale_down_percent(target: float, down: float) -> int:
    """Share of pods removable from a fleet at ``down`` % that keeps the rest ≤ ``target`` %.

    >>> scale_down_percent(70, 30)
    57
    """
    return max(1, min(100, math.floor(100.0 * (1.0 - down / target))))


__all__ = [
    "HOUR_S",
    "SCALE_DOWN_WINDOW_S",
    "THRESHOLDS",
    "CapacityFit",
    "ScalingInputError",
    "ScalingPlan",
    "ScalingRequest",
    "ScheduleEntry",
    "UsageHistory",
    "demand_series",
    "hpa_desired",
    "infer_kind",
    "learn_capacity",
    "plan_autoscaling",
    "scale_down_percent",
    "utc_iso",
]
