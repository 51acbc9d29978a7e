"""What arrives per service: signals (traces, metrics, logs) and span categories (server,
client, db, messaging, internal), and the window of server time no exit span explains.

Pure state updated from batches on event time; :func:`judge` judges one service. A span is
``db`` when it carries ``db.system.name`` (or the older ``db.system``), ``messaging`` when it
is a producer or consumer or carries ``messaging.system``, else ``server``, ``client`` or
``internal`` by its kind. Client, db and messaging spans are *exit* spans: time a request
spends outside the process. A service whose server spans never have one spends all of its
time in self time, as far as its traces show, which is what missing instrumentation (a DB
driver or HTTP client left uninstrumented) looks like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_perf.histogram import ExponentialHistogram
from otel_perf.model import SpanKind

NS = 1_000_000_000
SIGNALS = ("traces", "metrics", "logs")
CATEGORIES = ("server", "client", "db", "messaging", "internal")
EXITS = frozenset({"client", "db", "messaging"})
WINDOW_BUCKETS = 160  # buckets of each server-time window's histogram
MAX_WAITING = 256  # chunks of server durations a service holds before recording them


def category(kind: int, attributes: Mapping[str, Any]) -> str:
    """The span's category (see the module docstring).

    >>> category(SpanKind.CLIENT, {"db.system.name": "postgresql"})
    'db'
    >>> category(SpanKind.SERVER, {}), category(SpanKind.PRODUCER, {}), category(0, {})
    ('server', 'messaging', 'internal')
    """
    if "db.system.name" in attributes or "db.system" in attributes:
        return "db"
    if kind in (SpanKind.PRODUCER, SpanKind.CONSUMER) or "messaging.system" in attributes:
        return "messaging"
    if kind == SpanKind.SERVER:
        return "server"
    if kind == SpanKind.CLIENT:
        return "client"
    return "internal"


@dataclass(slots=True)
class Seen:
    """How many records of one signal or category, and when the first and last were."""

    count: int = 0
    first_ns: int = 0
    last_ns: int = 0

    def add(self, n: int, first_ns: int, last_ns: int) -> None:
        self.first_ns = first_ns if not self.count else min(self.first_ns, first_ns)
        self.last_ns = max(self.last_ns, last_ns)
        self.count += n


@dataclass
class Coverage:
    """One service: its signals, span categories and the server time of its recent windows.

    Server-span durations go to the histogram of their tumbling window (``window_ns`` long);
    the current and the previous window are kept. Durations wait as the chunks batches
    gave until the windows are read (or ``MAX_WAITING`` chunks wait): a run of chunks of
    one window is then recorded in one pass, which leaves the histograms as recording
    each chunk in turn does.
    """

    window_ns: int
    signals: dict[str, Seen] = field(default_factory=dict)
    categories: dict[str, Seen] = field(default_factory=dict)
    held: dict[int, ExponentialHistogram] = field(default_factory=dict)
    waiting: list[tuple[int, list[npt.NDArray[np.float64]]]] = field(
        default_factory=list, repr=False
    )
    waiting_chunks: int = 0

    @property
    def windows(self) -> dict[int, ExponentialHistogram]:
        """Each kept window's histogram, with every duration given so far recorded."""
        if self.waiting:
            self._record()
        return self.held

    def saw(self, signal: str, n: int, first_ns: int, last_ns: int) -> None:
        self.signals.setdefault(signal, Seen()).add(n, first_ns, last_ns)

    def saw_spans(self, name: str, n: int, first_ns: int, last_ns: int) -> None:
        self.categories.setdefault(name, Seen()).add(n, first_ns, last_ns)

    def server_times(self, windows: Sequence[tuple[int, npt.NDArray[np.float64]]]) -> None:
        """Take server-span durations (s) per tumbling window: (window start, durations),
        oldest window first."""
        for start, durations in windows:
            if self.waiting and self.waiting[-1][0] == start:
                self.waiting[-1][1].append(durations)
            else:
                self.waiting.append((start, [durations]))
            self.waiting_chunks += 1
        if self.waiting_chunks >= MAX_WAITING:
            self._record()

    def _record(self) -> None:
        waiting, self.waiting, self.waiting_chunks = self.waiting, [], 0
        for start, chunks in waiting:
            hist = self.held.get(start)
            if hist is None:
                if self.held and start < min(self.held):
                    continue  # older than both windows kept: too late to count
                hist = self.held[start] = ExponentialHistogram(max_size=WINDOW_BUCKETS)
                for old in sorted(self.held)[:-2]:
                    del self.held[old]
            hist.record_many(chunks[0] if len(chunks) == 1 else np.concatenate(chunks))

    def recent_server(self) -> ExponentialHistogram:
        """Server-span durations (s) of the windows kept, merged."""
        merged = ExponentialHistogram(max_size=WINDOW_BUCKETS)
        for hist in self.windows.values():
            merged.merge(hist)
        return merged

    def last_exit_ns(self) -> int | None:
        times = [self.categories[c].last_ns for c in EXITS if c in self.categories]
        return max(times) if times else None


@dataclass(frozen=True)
class Verdict:
    """One service's instrumentation judged: ``gap`` (a finding), ``ok`` or ``unknown`` (not
    enough data to say either way), with a sentence for people and the figures behind it."""

    state: str
    text: str
    no_exit_s: float = 0.0
    server_spans: int = 0
    p95_s: float = 0.0
    ever_exit: bool = False


def judge(
    coverage: Coverage,
    now_ns: int,
    window_s: float,
    min_self_time_s: float,
    min_server_spans: int,
) -> Verdict:
    """``gap`` when the service's server spans go on for at least ``window_s`` without an exit
    span (from its first server span, or from its last exit span, to its last server span),
    with at least
    ``min_server_spans`` recent server spans whose p95 is ``min_self_time_s`` or more."""
    server = coverage.categories.get("server")
    if server is None:
        return Verdict("unknown", "no server spans: nothing to judge")
    # measured on the spans' own times, up to the last server span: a service whose traffic
    # stopped altogether has no gap, and a replay judges the same as live
    last_exit = coverage.last_exit_ns()
    if last_exit is not None and server.last_ns - last_exit < window_s * NS:
        return Verdict("ok", "client, DB or messaging spans arrive", ever_exit=True)
    since = server.first_ns if last_exit is None else last_exit
    quiet_s = max(0.0, (min(now_ns, server.last_ns) - since) / NS)
    recent = coverage.recent_server()
    p95 = recent.quantile(0.95) if recent.count else 0.0

    def verdict(state: str, text: str) -> Verdict:
        return Verdict(state, text, quiet_s, int(recent.count), p95, last_exit is not None)

    if quiet_s < window_s:
        after = how_long(window_s)
        text = f"server spans without exit spans for {how_long(quiet_s)} (judged after {after})"
        return verdict("unknown", text)
    if recent.count < min_server_spans:
        text = f"{recent.count} recent server spans (judged from {min_server_spans})"
        return verdict("unknown", text)
    if p95 < min_self_time_s:
        text = f"no exit spans, but server p95 {p95 * 1000:.0f} ms is short: nothing missing"
        return verdict("ok", text)
    text = (
        f"server spans but no client, DB or messaging span for {how_long(quiet_s)} "
        f"while server p95 is {p95 * 1000:.0f} ms of self time"
    )
    return verdict("gap", text)


def how_long(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``2.0 d``.

    >>> how_long(45.2), how_long(720), how_long(12_600), how_long(172_800)
    ('45 s', '12 min', '3.5 h', '2.0 d')
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"
