"""Usage samples from received metric points: which metric is which resource, and how the
points of one timestamp (CPU states, logical CPUs, memory states) combine into one value.

Known metrics (``BUILTIN``) become ``<service>/<metric>``; CPU utilization sums the busy
states (every state but ``idle``) per logical CPU and averages over CPUs; memory usage keeps
the ``used`` state when points carry one. CPU-time counters (``process.cpu.time``, ...)
are recorded as their rate summed over busy states and CPUs: cores.
Configured ``resources`` combine the matching points of one timestamp with their
``aggregation``.
"""

from __future__ import annotations

import math
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from otel_perf.component.metricmath import MetricStreams, point_value
from otel_perf.model import MetricPoint, MetricType
from otel_perf.processors.capacity.config import CapacityConfig, ResourceRule

NS = 1_000_000_000
STATE_KEYS = ("state", "cpu.mode", "system.cpu.state", "system.memory.state")
CPU_KEYS = ("cpu", "cpu.logical_number", "system.cpu.logical_number")
IDLE = {"idle"}
MEMORY_USED = {"used"}
#: what a utilization of 1 means, as reported by the host (hostmetrics sends both)
LIMIT_METRICS = {"system.memory.limit": "memory", "system.cpu.logical.count": "cpu"}


@dataclass(frozen=True)
class Builtin:
    kind: str
    unit: str
    # "cpu": busy states summed per CPU, averaged over CPUs; "cores": busy states summed over
    # every CPU; "used": the used state
    combine: str


BUILTIN: dict[str, Builtin] = {
    "system.cpu.utilization": Builtin("cpu", "1", "cpu"),
    "process.cpu.utilization": Builtin("cpu", "1", "cpu"),
    "container.cpu.utilization": Builtin("cpu", "1", "cpu"),
    "k8s.pod.cpu.utilization": Builtin("cpu", "1", "cpu"),
    "container.cpu.usage": Builtin("cpu", "{cpu}", "cpu"),
    # CPU-time counters (seconds): their rate is CPU-seconds per second, i.e. cores, summed
    # over every busy state and logical CPU
    "system.cpu.time": Builtin("cpu", "{cpu}", "cores"),
    "process.cpu.time": Builtin("cpu", "{cpu}", "cores"),
    "container.cpu.time": Builtin("cpu", "{cpu}", "cores"),
    "k8s.pod.cpu.time": Builtin("cpu", "{cpu}", "cores"),
    "k8s.pod.cpu.usage": Builtin("cpu", "{cpu}", "cpu"),
    "system.memory.utilization": Builtin("memory", "1", "used"),
    "system.memory.usage": Builtin("memory", "By", "used"),
    "process.memory.usage": Builtin("memory", "By", "used"),
    "container.memory.usage": Builtin("memory", "By", "used"),
    "k8s.pod.memory.usage": Builtin("memory", "By", "used"),
}


@dataclass(frozen=True)
class ResourceInfo:
    """What a resource is: its name, the service and metric it comes from, kind and unit."""

    name: str
    service: str
    metric: str
    kind: str
    unit: str
    thresholds: tuple[float, ...] = ()  # absolute, from a configured rule

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "metric": self.metric,
            "kind": self.kind,
            "unit": self.unit,
            "thresholds": list(self.thresholds),
        }


@dataclass(frozen=True)
class Sample:
    resource: ResourceInfo
    time_ns: int
    value: float


def guess_kind(name: str) -> str:
    """cpu, memory or requests by the words in a resource name; else other."""
    lowered = name.lower()
    for word, kind in (("cpu", "cpu"), ("mem", "memory"), ("request", "requests")):
        if word in lowered:
            return kind
    return "other"


def rule_info(name: str, rule: ResourceRule) -> ResourceInfo:
    return ResourceInfo(
        name, rule.service or "", rule.metric, rule.kind, rule.unit, tuple(rule.thresholds)
    )


class UsageExtractor:
    """Turns metric batches into usage samples; keeps the cumulative-to-delta state."""

    def __init__(self, config: CapacityConfig) -> None:
        self.config = config
        self.streams = MetricStreams(config.max_resources * 16)
        self.rules: dict[str, list[tuple[str, ResourceRule]]] = defaultdict(list)
        for name, rule in config.resources.items():
            self.rules[rule.metric].append((name, rule))
        self._counters: OrderedDict[tuple[Any, ...], tuple[int, float]] = OrderedDict()
        self.limits: dict[tuple[str, str], float] = {}  # (service, kind) -> observed limit
        self.rejected = 0

    def samples(self, points: Iterable[MetricPoint]) -> list[Sample]:
        """One sample per resource and timestamp of the batch."""
        builtin: dict[tuple[str, str, int], list[MetricPoint]] = defaultdict(list)
        configured: dict[tuple[str, int], list[float]] = defaultdict(list)
        for point in points:
            if point.name in LIMIT_METRICS and point.value is not None:
                self._limit(point)
            for name, rule in self.rules.get(point.name, ()):
                value = self._value(point) if _matches(point, rule) else None
                if value is not None:
                    configured[(name, point.time_ns)].append(value)
            if self.config.builtin_metrics and point.name in BUILTIN:
                builtin[(point.service_name, point.name, point.time_ns)].append(point)
        out = [self._builtin(key, group) for key, group in builtin.items()]
        for (name, t_ns), values in configured.items():
            rule = self.config.resources[name]
            out.append(Sample(rule_info(name, rule), t_ns, aggregate(values, rule.aggregation)))
        return [s for s in out if s is not None and math.isfinite(s.value)]

    def _limit(self, point: MetricPoint) -> None:
        key = (point.service_name, LIMIT_METRICS[point.name])
        if key in self.limits or len(self.limits) < self.config.max_resources:
            self.limits[key] = float(point.value or 0.0)

    def _builtin(self, key: tuple[str, str, int], group: list[MetricPoint]) -> Sample | None:
        service, metric, t_ns = key
        spec = BUILTIN[metric]
        values = [(p.attributes, v) for p in group if (v := self._value(p)) is not None]
        combine = {"cpu": combine_cpu, "cores": combine_cores}.get(spec.combine, combine_used)
        value = combine(values)
        if value is None:
            return None
        info = ResourceInfo(f"{service}/{metric}", service, metric, spec.kind, spec.unit)
        return Sample(info, t_ns, value)

    def _value(self, point: MetricPoint) -> float | None:
        """A gauge's value, a non-monotonic sum's value, a counter's rate, a histogram's p95."""
        if point.type == MetricType.GAUGE or (
            point.type == MetricType.SUM and not point.is_monotonic
        ):
            value = point.value
        elif point.type == MetricType.SUM:
            value = self._rate(point)
        else:
            delta = self.streams.delta(point)
            value = None if delta is None else point_value(delta)
        if value is None or not math.isfinite(value):
            self.rejected += value is not None
            return None
        return float(value)

    def _rate(self, point: MetricPoint) -> float | None:
        """Per second: a delta point over its own span, a cumulative one against the last."""
        if point.value is None:
            return None
        if point.temporality == 1:
            seconds = (point.time_ns - point.start_ns) / NS
            return point.value / seconds if point.start_ns and seconds > 0 else None
        key = (point.name, point.service_name, tuple(sorted(point.attributes.items())))
        previous = self._counters.get(key)
        self._counters[key] = (point.time_ns, point.value)
        self._counters.move_to_end(key)
        if len(self._counters) > self.config.max_resources * 16:
            self._counters.popitem(last=False)  # least recently seen stream goes
        if previous is None or point.value < previous[1] or point.time_ns <= previous[0]:
            return None  # the first point or a reset only sets the baseline
        return (point.value - previous[1]) / ((point.time_ns - previous[0]) / NS)


def _state(attributes: Any) -> str | None:
    for key in STATE_KEYS:
        if key in attributes:
            return str(attributes[key])
    return None


def _cpu(attributes: Any) -> str:
    for key in CPU_KEYS:
        if key in attributes:
            return str(attributes[key])
    return ""


def combine_cpu(values: list[tuple[Any, float]]) -> float | None:
    """Busy states summed per logical CPU, averaged over CPUs (no states: the mean)."""
    per_cpu: dict[str, float] = defaultdict(float)
    for attributes, value in values:
        if _state(attributes) not in IDLE:
            per_cpu[_cpu(attributes)] += value
    if not per_cpu:
        return None
    return sum(per_cpu.values()) / len(per_cpu)


def combine_cores(values: list[tuple[Any, float]]) -> float | None:
    """Busy states summed over every logical CPU: CPU-seconds per second are cores."""
    busy = [value for attributes, value in values if _state(attributes) not in IDLE]
    return sum(busy) if busy else None


def combine_used(values: list[tuple[Any, float]]) -> float | None:
    """The ``used`` state when states are given (summed), else the sum of all points."""
    stated = [(_state(a), v) for a, v in values]
    if any(s is not None for s, _ in stated):
        used = [v for s, v in stated if s in MEMORY_USED]
        return sum(used) if used else None
    return sum(v for _, v in stated) if stated else None


def aggregate(values: list[float], how: str) -> float:
    """avg, max, min, sum, last or a percentile (p50, p90, p95, p99) of ``values``."""
    if how == "avg":
        return sum(values) / len(values)
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    if how == "sum":
        return sum(values)
    if how == "last":
        return values[-1]
    return float(np.quantile(np.asarray(values, dtype=np.float64), int(how[1:]) / 100))


def _matches(point: MetricPoint, rule: ResourceRule) -> bool:
    if rule.service is not None and point.service_name != rule.service:
        return False
    return all(str(point.attributes.get(k)) == v for k, v in rule.attributes.items())
