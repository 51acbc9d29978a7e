"""The bounded queue between receivers and processors, counted in items and in bytes.

Counting items (spans, points, records) rather than requests keeps memory bounded
whatever the batch sizes; counting the requests' protobuf bytes (``Batch.wire_bytes``,
uncompressed; for OTLP/JSON its protobuf equivalent: what the Collector's
``sending_queue`` sizer ``bytes`` counts) keeps it bounded whatever the spans hold. A
queued span is resident at ~1.5-3x its wire size (its record, ids, times, kept
attributes and columns: 641 bytes for a 203-byte span of ``benchmarks.ingest``'s
cardinality traffic, 559 for a 385-byte one of its throughput pool). ``offer`` never
blocks: a full queue is the receiver's cue to answer with a retryable status.
"""

from __future__ import annotations

import threading
from collections import deque

from otel_perf.model import Batch


class BoundedQueue:
    """FIFO of batches holding at most ``max_items`` items and ``max_bytes`` wire bytes.

    ``peak_items`` and ``peak_bytes`` are the most it has held at once.
    """

    def __init__(self, max_items: int, max_bytes: int | None = None) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items = 0
        self._bytes = 0
        self.peak_items = 0
        self.peak_bytes = 0
        self._batches: deque[Batch] = deque()
        self._cond = threading.Condition()
        self._closed = False

    @property
    def depth(self) -> int:
        return self._items

    @property
    def bytes(self) -> int:
        """Wire bytes of the batches queued now."""
        return self._bytes

    def offer(self, batch: Batch) -> bool:
        """Add a batch unless it would overflow; an empty queue takes any one batch."""
        size, nbytes = len(batch), batch.wire_bytes
        with self._cond:
            if self._closed:
                return False
            # a single batch bigger than the queue still fits an empty queue,
            # otherwise it could never be accepted and the client would retry forever
            if self._items and self._overflows(size, nbytes):
                return False
            self._batches.append(batch)
            self._items += size
            self._bytes += nbytes
            self.peak_items = max(self.peak_items, self._items)
            self.peak_bytes = max(self.peak_bytes, self._bytes)
            self._cond.notify()
            return True

    def _overflows(self, size: int, nbytes: int) -> bool:
        if self._items + size > self.max_items:
            return True
        return self.max_bytes is not None and self._bytes + nbytes > self.max_bytes

    def stats(self) -> dict[str, int]:
        """Wire bytes queued now, the byte bound (0: none) and the most held at once."""
        return {
            "bytes": self._bytes,
            "capacity_bytes": self.max_bytes or 0,
            "peak": self.peak_items,
            "peak_bytes": self.peak_bytes,
        }

    def take(self, timeout: float) -> Batch | None:
        """The oldest batch, or None after ``timeout`` seconds (or when closed and empty)."""
        with self._cond:
            if not self._batches and not self._closed:
                self._cond.wait(timeout)
            if not self._batches:
                return None
            batch = self._batches.popleft()
            self._items -= len(batch)
            self._bytes -= batch.wire_bytes
            return batch

    def close(self) -> None:
        """Refuse new batches; what is queued can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
