"""Python thread names given to the operating system, so per-thread tools can tell them apart.

``top -H``, ``ps -L``, ``/proc/<pid>/task/*/comm`` and sampling profilers show every
Python thread as ``python``; the receiver's workers and the pipeline thread name
themselves (Linux keeps the first 15 bytes). Elsewhere, or without permission, nothing
happens.
"""

from __future__ import annotations

import threading
from pathlib import Path

COMM_BYTES = 15


def name_native_thread() -> None:
    """Give the calling thread's Python name to its operating-system thread (Linux)."""
    name = threading.current_thread().name.encode()[:COMM_BYTES]
    try:
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_bytes(name)
    except OSError:  # not Linux, or /proc not writable: names are cosmetic
        pass
