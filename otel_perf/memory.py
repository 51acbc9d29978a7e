"""The C allocator's share of resident memory: glibc arenas and freed pages.

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
  hands every wholly free page back (``MADV_DONTNEED``); the sidecar calls it every
  :data:`TRIM_INTERVAL_S` seconds from its main thread, off the pipeline thread.

Both are no-ops returning False off glibc (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

ARENA_MAX = 2
M_ARENA_MAX = -8  # glibc's malloc.h
TRIM_INTERVAL_S = 30.0


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
