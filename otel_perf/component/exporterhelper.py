"""The start/shutdown shell every exporter with a running part shares.

Like the Collector's ``exporterhelper``: ``start()`` builds the running part (providers,
servers, threads) once; ``shutdown()`` takes it away under the lock and tears it down
outside it, so it is safe to call twice, without ``start()``, and a ``start()`` after a
``shutdown()`` does nothing. The exporter writes only ``_build`` and ``_close``.
"""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

from otel_perf.component.contract import Context, Exporter

R = TypeVar("R")


class LifecycleExporter(Exporter, Generic[R]):
    """An exporter whose running part ``R`` is built by ``start`` and closed by ``shutdown``.

    It also keeps the pipeline's telemetry (``bind_telemetry``) and counts failed sends in
    its ``export_errors`` under this exporter's id (:meth:`count_error`).
    """

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._telemetry: Any = None
        self._lock = threading.Lock()
        self._running: R | None = None
        self._stopped = False

    def bind_telemetry(self, telemetry: Any) -> None:
        """Keep the pipeline's Telemetry (read by metrics, counted into on errors)."""
        self._telemetry = telemetry

    def start(self) -> None:
        """Build the running part once; nothing after ``shutdown()``."""
        with self._lock:
            if self._running is not None or self._stopped:
                return
            self._running = self._build()

    def shutdown(self) -> None:
        """Close the running part; safe to call twice and without ``start()``."""
        with self._lock:
            running, self._running = self._running, None
            self._stopped = True
        if running is not None:
            self._close(running)

    def count_error(self, n: int = 1) -> None:
        """Count ``n`` failed exports in the pipeline's ``export_errors``."""
        telemetry = self._telemetry
        if telemetry is not None:
            telemetry.count(telemetry.export_errors, self.id, n)

    def _build(self) -> R:
        """Create what runs (called under the lock by the first ``start()``)."""
        raise NotImplementedError

    def _close(self, running: R) -> None:
        """Tear down what ``_build`` made (called once, outside the lock)."""
        raise NotImplementedError
