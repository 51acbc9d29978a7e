"""Profiling options and ``checkpoint``: span events on the request's server span."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

if TYPE_CHECKING:
    from otel_perf.asgi.metrics import BusinessMetrics

logger = logging.getLogger("otel_perf.asgi")

#: never captured, even when listed: credentials and session tokens
FORBIDDEN_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})


def _header_names(names: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(names, str):
        raise TypeError(f"{what} must be a list of header names, not a string")
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{what}: header names must be non-empty strings, got {name!r}")
        lowered = name.strip().lower()
        if lowered not in out:
            out.append(lowered)
    forbidden = sorted(n for n in out if n in FORBIDDEN_HEADERS)
    if forbidden:
        raise ValueError(
            f"{what}: {', '.join(forbidden)} may never be captured "
            f"(Authorization, Cookie, Set-Cookie and Proxy-Authorization carry credentials)"
        )
    return tuple(out)


@dataclass(frozen=True)
class Profiling:
    """What ``performance_monitoring`` records per request on the server span.

    Attributes:
        slow_request_threshold_s: requests that take longer get ``otel_perf.slow_request``
            = true.
        capture_request_headers / capture_response_headers: allow-lists of header names
            (case-insensitive) recorded as ``http.request.header.<name>`` /
            ``http.response.header.<name>`` (string arrays, as the OTel semantic
            conventions name them). Authorization, Cookie, Set-Cookie and
            Proxy-Authorization are refused with ``ValueError``.
        memory: a sampled memory profile: requests get their RSS at the start and end as
            ``otel_perf.memory.rss_start_bytes`` / ``rss_end_bytes`` / ``delta_bytes``,
            one request in every ``memory_interval_s`` (see below).
        memory_interval_s: a request is profiled for memory when no RSS reading was taken
            in the process in the last ``memory_interval_s`` seconds (default 50 ms), so
            RSS is read at most about twice per interval whatever the traffic: every
            request at low traffic, ~20 a second under load. Both readings of a profiled
            request are its own. 0 profiles every request.
        tracemalloc: start ``tracemalloc`` (costly: every allocation is traced) and record
            the traced peak during the request as ``otel_perf.memory.traced_peak_bytes``.
            The peak is process-wide; concurrent requests see each other's allocations.
    """

    slow_request_threshold_s: float = 1.0
    capture_request_headers: tuple[str, ...] = field(default=())
    capture_response_headers: tuple[str, ...] = field(default=())
    memory: bool = True
    tracemalloc: bool = False
    memory_interval_s: float = 0.05

    def __post_init__(self) -> None:
        for name in ("slow_request_threshold_s", "memory_interval_s"):
            seconds = getattr(self, name)
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not math.isfinite(seconds)
                or seconds < 0
            ):
                raise ValueError(f"{name} must be >= 0 seconds, got {seconds!r}")
        # frozen: normalise through object.__setattr__ (lists are accepted, tuples kept)
        request = _header_names(self.capture_request_headers, "capture_request_headers")
        response = _header_names(self.capture_response_headers, "capture_response_headers")
        object.__setattr__(self, "capture_request_headers", request)
        object.__setattr__(self, "capture_response_headers", response)


class RequestMonitor:
    """Per-request state; also what ``scope["state"]["otel_perf"]`` holds
    (``request.state.otel_perf`` in Starlette and FastAPI)."""

    __slots__ = (
        "span",
        "profiling",
        "business",
        "start",
        "rss_start",
        "finished",
    )

    def __init__(
        self,
        span: trace.Span | None,
        profiling: Profiling | None,
        business: BusinessMetrics | None,
        start: float,
    ) -> None:
        self.span = span  # the server span, or None when it was not current at the start
        self.profiling = profiling
        self.business = business
        self.start = start
        self.rss_start: int | None = None
        self.finished = False

    @property
    def status(self) -> int | None:
        """The response's status code, as ``OpenTelemetryMiddleware`` recorded it on the
        server span (``http.response.status_code``, or ``http.status_code`` with the old
        semantic conventions); None before the response started or without a recording
        SDK span. Read from the span rather than noted per request: most requests never
        ask."""
        attributes = getattr(self.span, "attributes", None)
        if not attributes:
            return None
        status = attributes.get("http.response.status_code", attributes.get("http.status_code"))
        return status if type(status) is int else None

    def checkpoint(self, name: str, **attributes: Any) -> bool:
        """Add a span event ``name`` to this request's server span; True if recorded."""
        return self._add_checkpoint(name, attributes)

    def record_business_metric(self, name: str, value: float, **attributes: Any) -> bool:
        """Record ``value`` on the histogram ``business.<name>``; True if recorded."""
        return self._add_business_metric(name, value, attributes)

    # the module-level helpers call these with their own keyword dict, not re-packed
    def _add_checkpoint(self, name: str, attributes: dict[str, Any]) -> bool:
        if self.profiling is None or self.finished:
            return False
        span = self.span if self.span is not None else trace.get_current_span()
        if not span.is_recording():
            return False
        span.add_event(name if type(name) is str else str(name), attributes=attributes or None)
        return True

    def _add_business_metric(self, name: str, value: float, attributes: dict[str, Any]) -> bool:
        if self.business is None:
            return False
        return self.business.record(name, value, attributes)


#: what ``scope["state"]["otel_perf"]`` holds when monitoring could not start for a request
NOOP_MONITOR = RequestMonitor(None, None, None, 0.0)
NOOP_MONITOR.finished = True

CURRENT: ContextVar[RequestMonitor | None] = ContextVar("otel_perf_asgi_request", default=None)


def current_request() -> RequestMonitor | None:
    """The monitor of the request being handled in this context, if any."""
    return CURRENT.get()


def checkpoint(name: str, **attributes: Any) -> bool:
    """Mark a point in the current request as a span event on its server span.

    The bottlenecks processor turns the events into phases (``start→a``, ``a→b``,
    ``b→end``) per route. Outside a request monitored by ``performance_monitoring``
    (or with profiling off) this does nothing and returns False; it never raises.
    """
    monitor = CURRENT.get()
    if monitor is None:
        return False
    try:
        return monitor._add_checkpoint(name, attributes)
    except Exception:  # monitoring never breaks the app
        logger.debug("otel_perf.asgi: checkpoint %r failed", name, exc_info=True)
        return False
