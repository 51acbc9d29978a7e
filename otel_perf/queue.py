"""The bounded queue between receivers and processors, counted in items.

Counting items (spans, points, records) rather than requests keeps memory
bounded whatever the batch sizes. ``offer`` never blocks: a full queue is the
receiver's cue to answer with a retryable status.
"""

from __future__ import annotations

import threading
from collections import deque

from otel_perf.model import Batch


class BoundedQueue:
    """FIFO of batches holding at most ``max_items`` items in all."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._items = 0
        self._batches: deque[Batch] = deque()
        self._cond = threading.Condition()
        self._closed = False

    @property
    def depth(self) -> int:
        return self._items

    def offer(self, batch: Batch) -> bool:
        """Add a batch unless it would overflow; an empty queue takes any one batch."""
        size = len(batch)
        with self._cond:
            if self._closed:
                return False
            # a single batch bigger than the queue still fits an empty queue,
            # otherwise it could never be accepted and the client would retry forever
            if self._items and self._items + size > self.max_items:
                return False
            self._batches.append(batch)
            self._items += size
            self._cond.notify()
            return True

    def take(self, timeout: float) -> Batch | None:
        """The oldest batch, or None after ``timeout`` seconds (or when closed and empty)."""
        with self._cond:
            if not self._batches and not self._closed:
                self._cond.wait(timeout)
            if not self._batches:
                return None
            batch = self._batches.popleft()
            self._items -= len(batch)
            return batch

    def close(self) -> None:
        """Refuse new batches; what is queued can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
