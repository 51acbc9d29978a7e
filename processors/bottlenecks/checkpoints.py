"""Phases of a request from the checkpoint events inside its server span.

With events a, b, c at times ta < tb < tc inside a span [s, e], the phases are
``start→a`` (ta - s), ``a→b``, ``b→c`` and ``c→end`` (e - tc). Events outside the
span's window are clipped to it; exception events are not checkpoints.
"""

from __future__ import annotations

from otel_perf.model import SpanRecord

NOT_CHECKPOINTS = frozenset({"exception"})


def phases(span: SpanRecord) -> list[tuple[str, int]]:
    """(phase name, duration ns) in order; empty when the span has no checkpoints."""
    marks = sorted(
        (min(max(t, span.start_ns), span.end_ns), name)
        for t, name, _ in span.events
        if name not in NOT_CHECKPOINTS
    )
    if not marks:
        return []
    out: list[tuple[str, int]] = []
    previous_name, previous_time = "start", span.start_ns
    for time_ns, name in marks:
        out.append((f"{previous_name}→{name}", time_ns - previous_time))
        previous_name, previous_time = name, time_ns
    out.append((f"{previous_name}→end", span.end_ns - previous_time))
    return out
