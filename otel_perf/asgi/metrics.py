"""Business metrics: ``record_business_metric`` → an OTel histogram ``business.<name>``."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import Histogram, Meter, MeterProvider

from otel_perf.asgi.profiling import CURRENT

logger = logging.getLogger("otel_perf.asgi")

PREFIX = "business."
MAX_INSTRUMENTS = 1000
# the OTel instrument-name syntax, less the prefix (255 characters in all)
_NAME = re.compile(rf"[A-Za-z][A-Za-z0-9_./-]{{0,{254 - len(PREFIX)}}}")
SCOPE = "otel_perf.asgi"


class BusinessMetrics:
    """Histograms ``business.<name>`` from one meter provider (the global one when None),
    created once per name; at most ``max_instruments`` names, later ones are dropped."""

    def __init__(
        self, meter_provider: MeterProvider | None = None, max_instruments: int = MAX_INSTRUMENTS
    ) -> None:
        self._provider = meter_provider
        self._meter: Meter | None = None
        self._instruments: dict[str, Histogram] = {}
        self._max = max_instruments
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.dropped = 0

    def _get_meter(self) -> Meter:
        if self._meter is None:
            # the global provider is a proxy until the SDK sets one, so asking early is fine
            self._meter = (
                self._provider.get_meter(SCOPE)
                if self._provider is not None
                else metrics.get_meter(SCOPE)
            )
        return self._meter

    def instrument(self, name: str) -> Histogram | None:
        histogram = self._instruments.get(name)
        if histogram is not None:
            return histogram
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            self._warn(f"invalid:{name!r}", "otel_perf.asgi: invalid business metric name %r", name)
            return None
        with self._lock:
            histogram = self._instruments.get(name)
            if histogram is None:
                if len(self._instruments) >= self._max:
                    self.dropped += 1
                    self._warn(
                        "full",
                        "otel_perf.asgi: more than %d business metric names; %r not recorded",
                        self._max,
                        name,
                    )
                    return None
                histogram = self._get_meter().create_histogram(
                    PREFIX + name, description=f"business metric {name}"
                )
                self._instruments[name] = histogram
        return histogram

    def record(self, name: str, value: float, attributes: dict[str, Any]) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._warn(f"value:{name}", "otel_perf.asgi: %r needs a number, got %r", name, value)
            return False
        histogram = self.instrument(name)
        if histogram is None:
            return False
        histogram.record(value, attributes=attributes or None)
        return True

    def _warn(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned and len(self._warned) < 100:
            self._warned.add(key)
            logger.warning(message, *args)


_GLOBAL = BusinessMetrics()


def record_business_metric(name: str, value: float, **attributes: Any) -> bool:
    """Record ``value`` on the OTel histogram ``business.<name>`` with ``attributes``.

    Inside a request monitored by ``performance_monitoring`` it uses that middleware's
    meter provider (the one passed in, else the global one), and does nothing when the
    middleware was built with ``metrics=False``; elsewhere (background jobs, startup) it
    uses the global meter provider. Instruments are created once per name, at most 1,000
    names. Returns True when recorded; never raises for bad input (it logs once).
    """
    try:
        monitor = CURRENT.get()
        if monitor is not None:
            return monitor._add_business_metric(name, value, attributes)
        return _GLOBAL.record(name, value, attributes)
    except Exception:  # monitoring never breaks the app
        logger.debug("otel_perf.asgi: business metric %r failed", name, exc_info=True)
        return False
