"""The API's reads of a ``capacity`` processor: dashboard, forecast, usage, autoscaling.

The processor keeps ingest, evaluation and state; these views read that state under the
processor's lock from the API thread (an analysis is made on the spot only for a resource
that has none yet) and render it with the pure functions of :mod:`.views`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_perf.processors.capacity.analysis import NS, iso
from otel_perf.processors.capacity.autoscaling import ScalingRequest
from otel_perf.processors.capacity.scaling import autoscaling_view
from otel_perf.processors.capacity.views import dashboard_entry, forecast_points, services_view

if TYPE_CHECKING:
    from otel_perf.processors.capacity.processor import CapacityProcessor


class CapacityViews:
    """Read-only views of one processor's resources (thread-safe)."""

    def __init__(self, processor: CapacityProcessor) -> None:
        self.processor = processor

    def resources(self) -> list[str]:
        """Names of the resources recorded, sorted."""
        with self.processor.lock:
            return sorted(self.processor.known)

    def dashboard(self) -> dict[str, Any]:
        """Per resource: current, p90, trend, seasons, peaks, forecast, thresholds, sizing, cost."""
        p = self.processor
        with p.lock:
            entries = {
                name: dashboard_entry(info, p.latest(name), p.config, p.inputs(info))
                for name, info in sorted(p.known.items())
            }
            return {"resources": entries, "services": services_view(p.config), **p.counters()}

    def forecast_view(self, resource: str, horizon_s: float | None = None) -> dict[str, Any]:
        """Forecast points (time, mean, lower, upper) up to ``horizon_s`` (default: the window).

        Raises:
            KeyError: unknown resource.
        """
        p = self.processor
        with p.lock:
            info = p.known.get(resource)
            if info is None:
                raise KeyError(resource)
            analysis = p.latest(resource)
            points = forecast_points(analysis, horizon_s)
            series = p.series(resource, p.latest_ns.get(resource, 0))
            recent = max(len(points), 24)  # as much past as future, at least a day of hours
            history = [
                {"time": iso(start), "t": start / NS, "mean": bucket.mean, "max": bucket.max}
                for start, bucket in zip(
                    series.starts_ns[-recent:], series.buckets[-recent:], strict=True
                )
            ]
            return {
                **dashboard_entry(info, analysis, p.config, p.inputs(info)),
                "points": points,
                "history": history,
            }

    def usage(self, resource: str) -> tuple[list[float], list[float], float]:
        """(epoch seconds, bucket means, interval_s) at the resolution forecasts use.

        Raises:
            KeyError: unknown resource.
        """
        p = self.processor
        with p.lock:
            if resource not in p.known:
                raise KeyError(resource)
            series = p.series(resource, p.latest_ns.get(resource, 0))
            times = [s / NS for s in series.starts_ns]
            return times, series.means(), float(series.resolution_s)

    def service_of(self, resource: str) -> str | None:
        """The service a recorded resource belongs to, or None when unknown or unnamed."""
        with self.processor.lock:
            info = self.processor.known.get(resource)
            return info.service or None if info is not None else None

    def autoscaling(self, request: ScalingRequest) -> dict[str, Any]:
        """HPA/KEDA configs and a replica schedule from ``request.resource``'s history.

        Raises:
            KeyError: unknown resource.
            ScalingInputError: the history or configuration cannot support a plan.
        """
        p = self.processor
        with p.lock:
            info = p.known.get(request.resource)
            if info is None:
                raise KeyError(request.resource)
            times, values, _ = self.usage(request.resource)
            return autoscaling_view(p.config, info, times, values, request)
