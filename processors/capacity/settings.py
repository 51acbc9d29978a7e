"""What the configuration means for one resource: its thresholds, the factor that turns its
values into cores or bytes, and the request and limit it is compared with."""

from __future__ import annotations

from otel_perf.processors.capacity.analysis import Inputs, Threshold
from otel_perf.processors.capacity.config import CapacityConfig
from otel_perf.processors.capacity.units import BYTES, CORES, UTILIZATION
from otel_perf.processors.capacity.usage import ResourceInfo, guess_kind, rule_info

ABSOLUTE_UNITS = {"cpu": CORES, "memory": BYTES}


def resource_for(
    config: CapacityConfig, name: str, service: str, kind: str | None, unit: str | None
) -> ResourceInfo:
    """A resource recorded through the Python API: a configured rule's, or described here."""
    rule = config.resources.get(name)
    if rule is not None:
        return rule_info(name, rule)
    chosen = kind or guess_kind(name)
    default_unit = UTILIZATION if "utilization" in name else ""
    return ResourceInfo(name, service, name, chosen, unit if unit is not None else default_unit)


def capacity_of(
    config: CapacityConfig, info: ResourceInfo, observed_limit: float | None
) -> float | None:
    """What 100 % means in the resource's own unit (for fractional thresholds)."""
    if info.unit == UTILIZATION:
        return 1.0
    if info.kind == "requests":
        replicas = config.replicas.get(info.service)
        if replicas is None or replicas.capacity_rps is None:
            return None
        return replicas.count * replicas.capacity_rps
    if info.kind in ABSOLUTE_UNITS and info.unit == ABSOLUTE_UNITS[info.kind]:
        return _absolute(config, info, observed_limit)
    return None


def _absolute(config: CapacityConfig, info: ResourceInfo, observed: float | None) -> float | None:
    limit = getattr(config.amounts(config.limits, info.service), info.kind)
    size = getattr(config.amounts(config.capacity, info.service), info.kind)
    value = limit if limit is not None else size
    if value is None:
        value = observed
    return float(value) if value else None


def to_absolute(
    config: CapacityConfig, info: ResourceInfo, observed_limit: float | None
) -> float | None:
    """Multiplier from the resource's unit to cores or bytes; None when unknown or n/a."""
    if info.kind not in ABSOLUTE_UNITS:
        return None
    if info.unit == ABSOLUTE_UNITS[info.kind]:
        return 1.0
    if info.unit != UTILIZATION:
        return None
    size = getattr(config.amounts(config.capacity, info.service), info.kind)
    if size is None:
        size = observed_limit
    return float(size) if size else None


def thresholds_for(
    config: CapacityConfig, info: ResourceInfo, observed_limit: float | None
) -> tuple[Threshold, ...]:
    """Absolute thresholds of a configured rule, then the kind's fractions of capacity."""
    out = [Threshold(v, f"{v:g}") for v in info.thresholds]
    fractions = config.thresholds.get(info.kind, [])
    full = capacity_of(config, info, observed_limit) if fractions else None
    if full is not None:
        out.extend(Threshold(f * full, f"{f:.0%}") for f in fractions)
    return tuple(out)


def sizing_unit(info: ResourceInfo) -> str | None:
    """The unit a resource is right-sized in: a CPU or memory series' own unit when it is a
    utilization (``1``), cores (``{cpu}``) or bytes (``By``); None for anything else."""
    absolute = ABSOLUTE_UNITS.get(info.kind)
    if absolute is None or info.unit not in (UTILIZATION, absolute):
        return None
    return info.unit


def inputs_for(config: CapacityConfig, info: ResourceInfo, observed_limit: float | None) -> Inputs:
    """Everything :func:`~.analysis.analyse` needs for ``info``."""
    factor = to_absolute(config, info, observed_limit)
    request = limit = None
    if factor is not None:
        request = getattr(config.amounts(config.requests, info.service), info.kind)
        limit = getattr(config.amounts(config.limits, info.service), info.kind)
    return Inputs(
        thresholds=thresholds_for(config, info, observed_limit),
        forecast_window_s=config.forecast_window,
        min_history_s=config.min_history,
        level=config.level,
        timezone=config.timezone,
        to_absolute=factor,
        sizing_unit=sizing_unit(info),
        use_peaks_for_sizing=info.kind == "memory",
        request=request,
        limit=limit,
        margin=config.margin,
        percentiles=(config.lower_percentile, config.target_percentile, config.upper_percentile),
    )
