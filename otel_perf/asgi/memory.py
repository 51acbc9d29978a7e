"""Resident set size, cheaply, and the span attribute names the bottlenecks processor reads.

``/proc/self/statm`` read with ``os.pread`` on a descriptor held open costs a few µs on
Linux (one procfs read, most of it in the kernel), against about 13 µs to open and read
it each time and 17 µs for ``psutil.Process().memory_info().rss`` (CPython 3.11). The
descriptor is opened on the first read and dropped in a forked child
(``os.register_at_fork``: ``/proc/self`` was resolved when the parent opened it), so the
child opens its own. psutil is the fallback where there is no procfs.
"""

from __future__ import annotations

import math
import os
import threading
import time

# the names otel_perf.processors.bottlenecks.memory reads (a test pins them equal)
RSS_START = "otel_perf.memory.rss_start_bytes"
RSS_END = "otel_perf.memory.rss_end_bytes"
DELTA = "otel_perf.memory.delta_bytes"
TRACED_PEAK = "otel_perf.memory.traced_peak_bytes"

_STATM = "/proc/self/statm"
_STATM_READ_BYTES = 64  # "size resident ...": the second number is all we need
_lock = threading.Lock()
_fd: int | None = None
_no_procfs = False
_page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_psutil_process: object | None = None


#: time.perf_counter() when the latest reading was taken (the middleware compares it
#: inline, as ``due_rss`` does, to spare a call on every request)
_read_at = -math.inf


def read_rss() -> int:
    """The process's resident set size in bytes, read now."""
    global _read_at
    rss = _read_statm()
    _read_at = time.perf_counter()
    return rss


def due_rss(now: float, interval_s: float) -> int | None:
    """A fresh RSS reading in bytes when the process's latest reading was taken at least
    ``interval_s`` seconds before ``now`` (``time.perf_counter()`` seconds), else None.

    This is how requests are sampled for the memory profile: a procfs read is a system
    call (a few µs, and 10–15 µs of CPU in situ on a loaded VM), so at most about one
    request per ``interval_s`` is profiled, whatever the traffic. A reading taken after
    ``now`` (another thread read in between) does not count as recent. ``interval_s`` 0
    reads every time.
    """
    if 0.0 <= now - _read_at < interval_s:
        return None
    return read_rss()


def _read_statm() -> int:
    fd = _fd
    if fd is not None:
        try:
            # statm is "size resident shared text lib data dt", in pages
            return int(os.pread(fd, _STATM_READ_BYTES, 0).split(b" ", 2)[1]) * _page
        except OSError:  # closed under us (a fork hook, a stray close): open again below
            pass
    fd = _open_statm()
    if fd is not None:
        return int(os.pread(fd, _STATM_READ_BYTES, 0).split(b" ", 2)[1]) * _page
    return _psutil_rss()


def _open_statm() -> int | None:
    global _fd, _no_procfs
    with _lock:
        if _no_procfs:
            return None
        if _fd is not None:
            try:  # another thread opened it, or the one we have stopped working
                os.pread(_fd, _STATM_READ_BYTES, 0)
                return _fd
            except OSError:
                _close(_fd)
                _fd = None
        try:
            _fd = os.open(_STATM, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            _no_procfs = True
            return None
        return _fd


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _after_fork_in_child() -> None:
    """The inherited descriptor reads the parent's statm: close it; the next read opens
    the child's own."""
    global _fd, _lock, _psutil_process, _read_at
    _lock = threading.Lock()  # a thread of the parent may have held it at the fork
    if _fd is not None:
        _close(_fd)
        _fd = None
    _psutil_process = None
    _read_at = -math.inf  # the parent's reading: the child's first request is profiled


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _psutil_rss() -> int:
    global _psutil_process
    import psutil

    if _psutil_process is None or getattr(_psutil_process, "pid", None) != os.getpid():
        _psutil_process = psutil.Process()
    process = _psutil_process
    assert isinstance(process, psutil.Process)
    return int(process.memory_info().rss)
