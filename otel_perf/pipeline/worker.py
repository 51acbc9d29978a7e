"""The worker loop: take batches off the queue, and between them run the tick and the
flush on their schedules."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from otel_perf.model import Batch
from otel_perf.queue import BoundedQueue
from otel_perf.runtime.threadnames import name_native_thread


class Every:
    """A chore's schedule: due ``interval_s`` after its last run *ended*.

    Counting from the end rather than the start means a chore slower than its interval
    (ticking 20,000 series on a loaded machine) still leaves the worker an interval to
    take batches between two runs; counted from the start, it would run again at once
    and the worker would take one batch a tick while the queue filled.
    """

    def __init__(self, interval_s: float, now_s: float) -> None:
        self.interval_s = interval_s
        self.next_s = now_s + interval_s

    def due(self, now_s: float) -> bool:
        return now_s >= self.next_s

    def ran(self, now_s: float) -> None:
        """The chore just ended at ``now_s``."""
        self.next_s = now_s + self.interval_s


class Chores(Protocol):
    """What the worker runs: the pipeline's own methods, looked up at each call so a
    method replaced on the pipeline after construction is the one that runs."""

    clock: Callable[[], int]

    def process(self, batch: Batch) -> None: ...

    def tick(self, now_ns: int) -> object: ...

    def flush(self, now_ns: int) -> None: ...


class Worker:
    """The pipeline thread: ``process`` each batch, ``tick`` and ``flush`` (at event time
    ``clock()``) every ``tick_interval_s`` / ``flush_interval_s``, until the queue closes."""

    def __init__(self, queue: BoundedQueue, chores: Chores) -> None:
        self.queue = queue
        self.chores = chores
        self.thread: threading.Thread | None = None

    def start(self, tick_interval_s: float, flush_interval_s: float) -> None:
        self.thread = threading.Thread(
            target=self.run,
            args=(tick_interval_s, flush_interval_s),
            name="otel-perf-pipeline",
            daemon=True,
        )
        self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self, tick_interval_s: float, flush_interval_s: float) -> None:
        name_native_thread()
        chores = self.chores
        ticks = Every(tick_interval_s, time.monotonic())
        flushes = Every(flush_interval_s, time.monotonic())
        while True:
            wait = max(0.0, min(ticks.next_s, flushes.next_s) - time.monotonic())
            batch = self.queue.take(timeout=wait)
            if batch is not None:
                chores.process(batch)
            elif self.queue.closed:
                return
            if ticks.due(time.monotonic()):
                chores.tick(chores.clock())
                ticks.ran(time.monotonic())
            if flushes.due(time.monotonic()):
                chores.flush(chores.clock())
                flushes.ran(time.monotonic())
