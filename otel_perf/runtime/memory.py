"""The process's memory habits: glibc arenas and freed pages, and Python's collector.

Two habits of glibc malloc cost a long-running, threaded Python process resident memory
that Python itself has already given back:

* **One arena per thread.** Each thread that calls ``malloc`` while others hold the
  existing arenas gets an arena of its own, up to 8 per core; freed memory stays in the
  arena that served it. The gRPC receiver's threads each grew one (~100 MB between them
  at 1,000 services x 20 operations). :func:`cap_arenas` limits the arenas to
  :data:`ARENA_MAX` (``mallopt(M_ARENA_MAX, ...)``); it must run before the threads
  start, so the sidecar calls it first thing. A ``MALLOC_ARENA_MAX`` set in the
  environment wins (glibc reads it itself) and is left alone.
* **Freed pages kept.** ``free`` returns memory to the system only from the top of the
  heap; pages freed below a live block stay resident. :func:`trim` (``malloc_trim(0)``)
  hands every wholly free page back (``MADV_DONTNEED``); the sidecar calls it from its
  main thread, off the pipeline thread, when :class:`TrimSchedule` says so: every
  :data:`TRIM_INTERVAL_S` seconds, and :data:`SETTLE_S` after a burst of work ends. At
  1,000 services x 20 operations ~50 MB of freed pages were still resident when the
  traffic ended and the last timed trim was up to 30 s old.

Both are no-ops returning False off glibc (musl, macOS).

Python's cyclic garbage collector runs a young collection every 700 net allocations of
container objects, and a full one whenever the objects promoted since the last full
one reach a quarter of those already old. The sidecar allocates thousands of records a
request and holds them until their trace is analysed (seconds), and its start-up leaves
~0.5 million long-lived objects (modules, config models, numpy, grpc): under
``benchmarks.ingest`` 13 full collections cost 1.2 s of CPU over a run, more than the
native decode, and the young ones kept walking records still queued.
:func:`tune_collector` raises the thresholds to :data:`GC_THRESHOLDS`, and
:func:`freeze_startup` moves what start-up built to the permanent generation, which no
collection walks (``gc.freeze``, as CPython documents for long-running servers).
Reference counting still frees at once everything that is not in a cycle; only cyclic
garbage waits longer. :func:`restore_collector` undoes both (tests start and stop
sidecars inside one interpreter).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import platform

ARENA_MAX = 2
M_ARENA_MAX = -8  # glibc's malloc.h
TRIM_INTERVAL_S = 30.0
SETTLE_S = 2.0
"""A burst has settled once the process has not been busy for this long."""
BUSY_SHARE = 0.25
"""The process is busy while it uses more than this share of one core."""
GC_THRESHOLDS = (50_000, 20, 20)
"""A young collection every 50,000 net container allocations (CPython's default: 700);
the older generations as often as before relative to it."""


def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    return None if name is None else ctypes.CDLL(name)


_LIBC = _glibc()


def cap_arenas(arenas: int = ARENA_MAX) -> bool:
    """Limit glibc's malloc arenas to ``arenas``; True when the limit was set here.

    False off glibc, or when ``MALLOC_ARENA_MAX`` is in the environment (then it is the
    limit, as glibc reads it at start-up). Arenas made before the call stay.
    """
    if arenas < 1:
        raise ValueError(f"arenas must be at least 1, got {arenas}")
    if _LIBC is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(_LIBC.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Return every wholly free page of every arena to the system; True when some were."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))


class TrimSchedule:
    """When to :func:`trim`: every ``interval_s``, and once after each burst of work.

    ``due(now_s, cpu_s)`` takes the process's CPU time: a poll in which the process
    used more than ``busy_share`` of a core counts as busy (ingest, a tick over many
    series, an API read of a large snapshot); a trim is due ``settle_s`` after the last
    busy poll, once per burst, or ``interval_s`` after the last trim, whichever comes
    first. Trimming during a burst would hand back pages its next allocations fault in
    again; waiting for the timer leaves a burst's garbage resident for up to 30 s.
    """

    def __init__(
        self,
        now_s: float,
        cpu_s: float,
        interval_s: float = TRIM_INTERVAL_S,
        settle_s: float = SETTLE_S,
        busy_share: float = BUSY_SHARE,
    ) -> None:
        if interval_s <= 0 or settle_s <= 0:
            raise ValueError(f"intervals must be positive, got {interval_s} and {settle_s}")
        self.interval_s = interval_s
        self.settle_s = settle_s
        self.busy_share = busy_share
        self.trimmed_s = now_s
        self._last = (now_s, cpu_s)
        self._busy_s: float | None = None  # the last busy poll since the last trim

    def due(self, now_s: float, cpu_s: float) -> bool:
        """Whether to trim now; call :meth:`ran` after trimming."""
        last_s, last_cpu_s = self._last
        if cpu_s - last_cpu_s > self.busy_share * (now_s - last_s):
            self._busy_s = now_s
        self._last = (now_s, cpu_s)
        if now_s - self.trimmed_s >= self.interval_s:
            return True
        return self._busy_s is not None and now_s - self._busy_s >= self.settle_s

    def ran(self, now_s: float) -> None:
        """A trim just ran at ``now_s``."""
        self.trimmed_s = now_s
        self._busy_s = None


def tune_collector(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> tuple[int, int, int]:
    """Set the collector's thresholds; returns the previous ones for :func:`restore_collector`."""
    if thresholds[0] < 1 or min(thresholds) < 0:
        raise ValueError(f"thresholds must be positive, got {thresholds}")
    previous = gc.get_threshold()
    gc.set_threshold(*thresholds)
    return previous[0], previous[1], previous[2]


def freeze_startup() -> int:
    """Collect once, then exempt every object alive now from later collections.

    Returns:
        How many objects are frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def restore_collector(thresholds: tuple[int, int, int]) -> None:
    """Put ``thresholds`` back and return the frozen objects to the collector."""
    gc.set_threshold(*thresholds)
    gc.unfreeze()
