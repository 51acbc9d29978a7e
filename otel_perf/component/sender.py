"""Sending off the pipeline thread: a bounded queue, one worker, retries with backoff.

Like the Collector's ``exporterhelper`` (its sending queue and retry sender): an
exporter offers items without blocking; one worker thread sends them in order;
a retryable failure is tried again after an exponential backoff (with optional
jitter); the queue is bounded (past it an item is dropped and counted); and
shutdown waits for what is queued only until its deadline. A sender whose work is
also timed (re-sending what is still open, releasing what waited) gives it a
``tick`` that the same worker runs whenever the queue is empty.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
log = logging.getLogger("otel_perf.component.sender")


class Retryable(Exception):
    """An attempt failed in a way worth trying again (unavailable, 429, 5xx, no connection).

    ``attempts`` is set to how many were made when :func:`send_with_retries` gives up.
    """

    attempts: int = 0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``min(max_s, initial_s · 2^(attempt−1))`` before retry ``attempt``.

    With ``jitter`` j (0 to 1) the wait is drawn uniformly from ``[(1−j)·d, d]`` so that
    many senders retrying at once spread out; ``rng`` makes the draw reproducible.

    >>> [Backoff(1.0, 30.0).delay_s(n) for n in range(1, 8)]
    [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    >>> 0.5 <= Backoff(1.0, 30.0, jitter=0.5).delay_s(1, random.Random(7)) <= 1.0
    True
    """

    initial_s: float
    max_s: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < self.initial_s:
            raise ValueError(f"backoff needs 0 <= initial ({self.initial_s}) <= max ({self.max_s})")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"backoff jitter must be between 0 and 1, got {self.jitter}")

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before retry ``attempt`` (1-based)."""
        delay = float(min(self.max_s, self.initial_s * 2 ** max(0, attempt - 1)))
        if self.jitter:
            delay *= 1.0 - self.jitter * (rng or random).random()
        return delay


def send_with_retries(
    send: Callable[[], None],
    max_attempts: int,
    backoff: Backoff,
    sleep: Callable[[float], object],
    stopped: Callable[[], bool],
    on_retry: Callable[[Retryable], None] | None = None,
    rng: random.Random | None = None,
) -> int:
    """Call ``send`` until it succeeds (returns the attempts it took); after a
    :class:`Retryable` failure wait ``backoff.delay_s(attempt)`` (``sleep``, which a stop may
    cut short) and try again. Other exceptions are not retried; the last ``Retryable`` is
    raised (``attempts`` set) when attempts ran out or ``stopped()``."""
    attempt = 0
    while True:
        attempt += 1
        try:
            send()
            return attempt
        except Retryable as exc:
            exc.attempts = attempt
            if attempt >= max_attempts or stopped():
                raise
            if on_retry is not None:
                on_retry(exc)
            sleep(backoff.delay_s(attempt, rng))
            if stopped():
                raise


@dataclass(frozen=True)
class SenderSettings:
    """How a :class:`QueueSender` queues and retries.

    Attributes:
        name: the worker thread's name (and the log's subject).
        max_queue: items waiting; past it one is dropped (counted in ``dropped``).
        drop: which one goes when the queue is full: the ``oldest`` queued or the ``newest``
            (the one offered).
        max_attempts: attempts per item; only :class:`Retryable` failures are tried again.
        backoff: the wait between attempts.
    """

    name: str
    max_queue: int
    drop: Literal["oldest", "newest"] = "oldest"
    max_attempts: int = 1
    backoff: Backoff = Backoff(0.0, 0.0)


#: what a tick returns: the seconds until it wants to run again
Tick = Callable[[], float]


class QueueSender(Generic[T]):
    """Sends offered items on its own thread, in order; ``offer`` never blocks.

    ``send(item)`` raises :class:`Retryable` for a failure worth retrying; any other
    exception fails the item for good. Counters: ``sent``, ``failed``, ``dropped``,
    ``retries``.

    With a ``tick``, the worker also runs it each time the queue is empty: after what was
    queued is sent, when a :meth:`flush` asks, once the seconds the last tick returned have
    passed, and a last time on close (its :meth:`retry` sends then get one attempt). What
    the items carry can so be sent in one go (the tick posts what they changed), on the
    worker's thread, with the sender's backoff.
    """

    def __init__(
        self,
        settings: SenderSettings,
        send: Callable[[T], None],
        on_drop: Callable[[], None] | None = None,
        sleep: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
        tick: Tick | None = None,
    ) -> None:
        self.settings = settings
        self._send = send
        self._on_drop = on_drop
        self._tick = tick
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait  # a close cuts a backoff short
        self._rng = rng
        self._queue: deque[T] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._idle_s: float | None = 0.0 if tick else None  # until the next tick (None: never)
        self._sent_since_tick = False  # items went out: tick once the queue is empty
        self._requested = self._ticked = 0  # flush generations asked for / ticked
        self.sent = self.failed = self.dropped = self.retries = 0

    def __len__(self) -> int:
        """Items queued, not yet taken by the worker."""
        with self._cond:
            return len(self._queue)

    def start(self) -> None:
        """Start the worker (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.settings.name, daemon=True)
            self._thread.start()

    def offer(self, item: T) -> bool:
        """Queue ``item``; False when it was dropped because the queue is full."""
        with self._cond:
            full = len(self._queue) >= self.settings.max_queue
            kept = not (full and self.settings.drop == "newest")
            if full:
                self.dropped += 1
                if kept:
                    self._queue.popleft()
            if kept:
                self._queue.append(item)
                self._cond.notify_all()
        if full and self._on_drop is not None:
            self._on_drop()
        return kept

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued is sent (or given up) and, with a tick, a tick has
        run since; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._requested += 1
            wanted = self._requested
            self._cond.notify_all()
            while self._pending(wanted) and self._thread is not None and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return not self._pending(wanted)

    def _pending(self, wanted: int = 0) -> bool:
        ticking = self._tick is not None and self._ticked < wanted
        return bool(self._queue) or self._busy or ticking

    def retry(self, send: Callable[[], None], on_retry: Callable[[Retryable], None]) -> None:
        """``send`` with the sender's attempts and backoff (for a tick's own sends); a close
        cuts the backoff short. Raises the last :class:`Retryable` when it gives up."""
        send_with_retries(
            send,
            self.settings.max_attempts,
            self.settings.backoff,
            self._sleep,
            self._stop.is_set,
            on_retry,
            self._rng,
        )

    def close(self, timeout_s: float) -> None:
        """Send what is queued within ``timeout_s``, then stop the worker; safe to call twice.

        A ticking sender's worker then gives what is still queued one attempt each and ticks
        a last time before it ends (waited for up to ``timeout_s`` more)."""
        self.flush(timeout_s)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(self._has_work, self._idle_s)
                stopping = self._stop.is_set()
                if stopping and self._tick is None:
                    return
                if self._queue and (not stopping or self._tick is not None):
                    item, self._busy = self._queue.popleft(), True  # a ticking sender drains
                else:
                    item, self._busy = None, True
                    generation, self._sent_since_tick = self._requested, False
            try:
                if item is not None:
                    self._deliver(item)
                else:
                    self._run_tick()
            finally:
                with self._cond:
                    self._busy = False
                    if item is None:
                        self._ticked = generation
                    else:
                        self._sent_since_tick = True
                    self._cond.notify_all()
            if stopping and item is None:
                return

    def _has_work(self) -> bool:
        if self._queue or self._stop.is_set():
            return True
        return self._tick is not None and (self._sent_since_tick or self._requested > self._ticked)

    def _run_tick(self) -> None:
        if self._tick is None:
            return
        try:
            self._idle_s = max(0.0, self._tick())
        except Exception:  # the worker must survive anything its tick meets
            log.exception("%s: tick failed", self.settings.name)

    def _deliver(self, item: T) -> None:
        try:
            send_with_retries(
                lambda: self._send(item),
                self.settings.max_attempts,
                self.settings.backoff,
                self._sleep,
                self._stop.is_set,
                self._count_retry,
                self._rng,
            )
            self.sent += 1
            return
        except Retryable as exc:
            log.warning(
                "%s: not delivered after %d attempts: %s", self.settings.name, exc.attempts, exc
            )
        except Exception as exc:  # not retryable: refused, or a bug in send
            log.warning("%s: not delivered: %s", self.settings.name, exc)
        self.failed += 1

    def _count_retry(self, _exc: Retryable) -> None:
        self.retries += 1
