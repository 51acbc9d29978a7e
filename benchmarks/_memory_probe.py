"""Where a running sidecar's resident memory is: ``otel-perf run`` with a probe on SIGUSR1.

``python -m benchmarks._memory_probe OUT [--trace-frames N] -- <otel-perf run arguments>``
runs the sidecar as ``otel-perf run`` does; each SIGUSR1 appends one JSON line to
``OUT`` with:

- ``rss`` and ``smaps``: ``/proc/self/smaps_rollup`` (kB fields as bytes);
- ``pymalloc``: ``sys._debugmallocstats()``'s arena figures (arenas allocated now and at
  the high-water mark, bytes in allocated blocks, in free blocks and in unused pools);
- ``glibc``: ``malloc_info``'s totals (bytes the arenas hold from the system, bytes free
  inside them, bytes in mmapped chunks);
- ``traced``: with ``--trace-frames``, the bytes ``tracemalloc`` counts as allocated, by
  file (the innermost frame) and the largest sites; tracing starts before the sidecar.

``benchmarks.ingest --probe`` starts the cardinality phase's sidecar this way and signals
it once the traffic has been processed (and again after the allocator's trim).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import re
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks._memory_breakdown import deep_size

TOP = 15
_PYMALLOC = {
    "arenas_allocated_current": r"# arenas allocated current\s*=\s*([\d,]+)",
    "arenas_highwater_mark": r"# arenas highwater mark\s*=\s*([\d,]+)",
    "arenas_reclaimed": r"# arenas reclaimed\s*=\s*([\d,]+)",
    "bytes_in_allocated_blocks": r"# bytes in allocated blocks\s*=\s*([\d,]+)",
    "bytes_in_available_blocks": r"# bytes in available blocks\s*=\s*([\d,]+)",
    "bytes_in_unused_pools": r"unused pools \* \d+ bytes\s*=\s*([\d,]+)",
    "arena_bytes": r"arenas \* \d+ bytes/arena\s*=\s*([\d,]+)",
}


def smaps_rollup() -> dict[str, int]:
    """``/proc/self/smaps_rollup``: every kB field, in bytes."""
    out: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if len(fields) == 2 and fields[1] == "kB":
            out[name.strip()] = int(fields[0]) * 1024
    return out


def _captured_stderr(call: Any) -> str:
    """What ``call()`` writes to file descriptor 2 (C code's stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            call()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return sink.read().decode(errors="replace")


def pymalloc() -> dict[str, int]:
    """The arena lines of ``sys._debugmallocstats()``."""
    text = _captured_stderr(sys._debugmallocstats)
    out: dict[str, int] = {}
    for name, pattern in _PYMALLOC.items():
        found = re.search(pattern, text)
        if found:
            out[name] = int(found.group(1).replace(",", ""))
    return out


def glibc() -> dict[str, int]:
    """``malloc_info``'s process-wide totals (empty off glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return {}
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "malloc_info"):
        return {}
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    with tempfile.TemporaryFile() as sink:
        stream = libc.fdopen(os.dup(sink.fileno()), b"w")
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        sink.seek(0)
        text = sink.read().decode()
    tail = text[text.rfind("</heap>") :]  # the process-wide totals follow the last heap
    out: dict[str, int] = {}
    for kind in ("fast", "rest", "mmap"):
        found = re.search(rf'<total type="{kind}" count="(\d+)" size="(\d+)"/>', tail)
        if found:
            out[f"{kind}_free_bytes" if kind != "mmap" else "mmap_bytes"] = int(found.group(2))
    for kind in ("current", "max"):
        found = re.search(rf'<system type="{kind}" size="(\d+)"/>', tail)
        if found:
            out[f"system_{kind}_bytes"] = int(found.group(1))
    out["heaps"] = text.count("<heap nr=")
    return out


def traced(frames: int) -> dict[str, Any]:
    """tracemalloc's bytes by file and its largest sites (empty when not tracing)."""
    if not frames or not tracemalloc.is_tracing():
        return {}
    snapshot = tracemalloc.take_snapshot()
    by_file = snapshot.statistics("filename")
    by_line = snapshot.statistics("lineno")
    total = sum(stat.size for stat in by_file)
    return {
        "total_bytes": total,
        "by_file": [[str(s.traceback[0].filename), s.size, s.count] for s in by_file[:TOP]],
        "by_site": [[str(s.traceback[0]), s.size, s.count] for s in by_line[:TOP]],
    }


class QueueWatch:
    """The queue's peak depth in spans, and the bytes a queued span holds, measured.

    Wraps ``BoundedQueue.offer``; the first span batch offered is measured deeply
    (its records, their attributes and ids, and its columns) for the bytes per span.
    """

    def __init__(self) -> None:
        self.peak_items = 0
        self.peak_batches = 0
        self.bytes_per_span: float | None = None

    def install(self) -> None:
        from otel_perf.queue import BoundedQueue

        offer = BoundedQueue.offer
        watch = self

        def watched(queue: BoundedQueue, batch: Any) -> bool:
            accepted = offer(queue, batch)
            if accepted:
                watch.peak_items = max(watch.peak_items, queue.depth)
                watch.peak_batches = max(watch.peak_batches, len(queue._batches))
                if watch.bytes_per_span is None and len(batch) and hasattr(batch, "spans"):
                    watch.bytes_per_span = deep_size([batch], set()) / len(batch)
            return accepted

        BoundedQueue.offer = watched  # type: ignore[method-assign,assignment]

    def figures(self) -> dict[str, Any]:
        per_span = self.bytes_per_span or 0.0
        return {
            "peak_items": self.peak_items,
            "peak_batches": self.peak_batches,
            "bytes_per_span": round(per_span),
            "peak_bytes": round(per_span * self.peak_items),
        }


WATCH = QueueWatch()


def probe(frames: int) -> dict[str, Any]:
    """Every figure of the module docstring, read now."""
    smaps = smaps_rollup()
    return {
        "time_s": time.time(),
        "queue": WATCH.figures(),
        "rss": smaps.get("Rss", 0),
        "smaps": smaps,
        "pymalloc": pymalloc(),
        "glibc": glibc(),
        "traced": traced(frames),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._memory_probe")
    parser.add_argument("out", type=Path, help="file the probes are appended to (JSON lines)")
    parser.add_argument("--trace-frames", type=int, default=0)
    given = sys.argv[1:] if argv is None else argv
    split = given.index("--") if "--" in given else len(given)
    args = parser.parse_args(given[:split])
    run = given[split + 1 :]  # otel-perf run's arguments
    if args.trace_frames:
        tracemalloc.start(args.trace_frames)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        import gc

        from otel_perf.runtime.memory import trim

        stages = {"as_is": probe(args.trace_frames)}
        trim()
        stages["trimmed"] = probe(0)
        gc.collect()
        trim()
        stages["collected"] = probe(0)
        with args.out.open("a") as out:
            out.write(json.dumps(stages) + "\n")

    signal.signal(signal.SIGUSR1, on_signal)
    WATCH.install()
    from otel_perf.cli import main as cli_main

    return cli_main(["run", *run])


if __name__ == "__main__":
    sys.exit(main())
