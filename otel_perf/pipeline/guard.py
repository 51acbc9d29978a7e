"""Failure isolation: a component that raises is logged and counted, the others go on."""

from __future__ import annotations

import logging
from collections.abc import Callable

from otel_perf.store import StoreWriteError
from otel_perf.telemetry import Telemetry

log = logging.getLogger("otel_perf.pipeline")


class Guard:
    """Calls a component's method, turning its failure into a log line and a count."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def __call__(self, who: str, fn: Callable[..., object], *args: object) -> object:
        try:
            return fn(*args)
        except StoreWriteError:  # a disk fault, not a bug: the store counted it and the
            return None  # component keeps its data for the next flush
        except Exception:  # isolate: one component's bug must not stop the rest
            log.exception("component %s failed", who)
            self.telemetry.count(self.telemetry.component_errors, who)
            return None
