"""What is wrong with an item, and how the problems of a request are reported."""

from __future__ import annotations

from dataclasses import dataclass, field

from otel_perf.decode.limits import SPAN_ID_BYTES, TRACE_ID_BYTES

MAX_MESSAGES = 5  # problems named in one partial-success message


class DecodeError(ValueError):
    """The payload could not be parsed at all (OTLP: INVALID_ARGUMENT / HTTP 400)."""


@dataclass(slots=True)
class Problems:
    """Rejected-item count and the first few reasons, for a partial success."""

    rejected: int = 0
    warnings: int = 0
    messages: list[str] = field(default_factory=list)

    def reject(self, where: str, why: str) -> None:
        self.rejected += 1
        self._note(f"{where}: {why}")

    def warn(self, where: str, why: str) -> None:
        self.warnings += 1
        self._note(f"{where}: {why}")

    def _note(self, text: str) -> None:
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(text)

    def message(self) -> str:
        if not self.messages:
            return ""
        extra = self.rejected + self.warnings - len(self.messages)
        tail = f" (and {extra} more)" if extra > 0 else ""
        return "; ".join(self.messages) + tail


def _id_problem(name: str, value: bytes, size: int) -> str:
    return f"{name} must be {size} bytes, got {len(value)}"


def _future(time_ns: int, latest_ns: int, field: str) -> str:
    if time_ns <= latest_ns:
        return ""
    ahead_s = (time_ns - latest_ns) / 1e9
    return f"{field} is too far in the future ({ahead_s:.0f} s past the allowed clock skew)"


def _span_problem(trace_id: bytes, span_id: bytes, parent: bytes, start: int, end: int) -> str:
    """Why a span is invalid, or "" when it is fine (cheapest checks first)."""
    if len(trace_id) != TRACE_ID_BYTES:
        return _id_problem("trace_id", trace_id, TRACE_ID_BYTES)
    if len(span_id) != SPAN_ID_BYTES:
        return _id_problem("span_id", span_id, SPAN_ID_BYTES)
    if parent and len(parent) != SPAN_ID_BYTES:
        return _id_problem("parent_span_id", parent, SPAN_ID_BYTES)
    if end == 0:
        return "end_time_unix_nano is zero"
    if end < start:
        return f"end_time_unix_nano {end} is before start_time_unix_nano {start}"
    if trace_id == _ZERO_TRACE_ID:
        return "trace_id must not be all zeros"
    return ""


_ZERO_TRACE_ID = b"\0" * TRACE_ID_BYTES
