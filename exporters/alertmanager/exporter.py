"""The ``alertmanager`` exporter: findings as alerts on Alertmanager's v2 API.

``export()`` only appends to a bounded queue. One worker thread applies the
findings to the alert book, posts what changed (with retries and exponential
backoff) and re-sends every firing alert each ``resend_interval``, as Prometheus
does, so Alertmanager keeps them active; an alert no longer re-sent resolves at
its ``endsAt``. Firing alerts are kept in the store so a restart resumes them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from otel_perf.component import Context, Exporter, Factory, component_type
from otel_perf.component.exporterhelper import LifecycleExporter
from otel_perf.exporters.alertmanager.book import AlertBook, HeldAlert
from otel_perf.exporters.alertmanager.client import PostError, post_alerts, with_retries
from otel_perf.exporters.alertmanager.config import AlertmanagerConfig
from otel_perf.findings import Finding, Kind

log = logging.getLogger("otel_perf.exporters.alertmanager")

STATE_NAME = "alerts"
#: longest the worker sleeps without looking at the clock (an injected clock moves in jumps)
MAX_IDLE_S = 1.0

Clock = Callable[[], float]


@dataclass
class AlertmanagerStats:
    """What the exporter did; ``dropped_*`` count findings lost to the bounds."""

    posts: int = 0
    alerts_sent: int = 0
    attempts_failed: int = 0
    posts_failed: int = 0
    dropped_queue: int = 0
    dropped_active: int = 0
    last_error: str = ""


class AlertmanagerExporter(LifecycleExporter[threading.Thread]):
    """Posts firing and resolved alerts to Alertmanager from a worker thread.

    Args:
        context: the component's id and the store (firing alerts are saved there).
        config: the validated settings.
        clock: wall-clock seconds, for ``startsAt``/``endsAt`` and re-sending.
    """

    def __init__(
        self, context: Context, config: AlertmanagerConfig, clock: Clock = time.time
    ) -> None:
        super().__init__(context)
        self.config = config
        self.clock = clock
        self._book = AlertBook(config)
        self._queue: deque[Finding] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._stats = AlertmanagerStats()
        self._requested = 0  # flush generations asked for / completed
        self._completed = 0
        self._next_resend_s = 0.0
        self._unsaved = False  # the last save failed: retry it on the next pass

    # -- the contract ---------------------------------------------------------
    def bind_sources(self, sources: frozenset[str]) -> None:
        """Group by incident when an ``incidents`` processor feeds this exporter."""
        incidents = any(component_type(source) == "incidents" for source in sources)
        with self._cond:
            self._book.grouping = self.config.group_by_incident and incidents

    def _build(self) -> threading.Thread:
        """Load held alerts from the store and start the worker thread (``start()``)."""
        with self._cond:
            self._book.restore(self._load())
            self._next_resend_s = self.clock() if len(self._book) else self._resend_after()
        worker = threading.Thread(target=self._run, name=f"otel-perf-{self.id}", daemon=True)
        worker.start()
        return worker

    def export(self, findings: list[Finding]) -> None:
        """Queue findings of the configured kinds; never waits on the network."""
        grouping = self._book.grouping
        wanted = [
            f
            for f in findings
            if f.kind in self.config.kinds or (grouping and f.kind == Kind.INCIDENT)
        ]
        if not wanted:
            return
        dropped = 0
        with self._cond:
            for finding in wanted:
                if len(self._queue) >= self.config.max_queue:
                    self._queue.popleft()  # the oldest go first: newer state supersedes them
                    dropped += 1
                self._queue.append(finding)
            self._stats.dropped_queue += dropped
            self._cond.notify_all()
        if dropped:
            self.count_error(dropped)
            log.warning("exporter %s: queue full, dropped %d finding(s)", self.id, dropped)

    def flush(self) -> None:
        """Wait (at most ``timeout``) until what is queued now has been posted or given up on;
        an alert due for re-sending is re-sent."""
        with self._cond:
            worker = self._running
            if worker is None or not worker.is_alive():
                return
            self._requested += 1
            wanted = self._requested
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._completed >= wanted, self.config.timeout)

    def _close(self, worker: threading.Thread) -> None:
        """Post what is queued (one attempt, no retries), save held alerts, stop the thread.

        Firing alerts are not resolved: Alertmanager resolves them at their ``endsAt``
        unless a restarted exporter re-sends them first.
        """
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        worker.join(self.config.timeout + 1.0)
        if worker.is_alive():
            log.warning("exporter %s: shutdown timed out, unsent alerts dropped", self.id)

    def stats(self) -> dict[str, Any]:
        """Counters and the number of alerts held (JSON-ready)."""
        with self._cond:
            return {
                **asdict(self._stats),
                "queued": len(self._queue),
                "firing": len(self._book.firing),
                "resolving": len(self._book.resolving),
            }

    # -- the worker -------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(self._has_work, self._idle_s())
                findings = list(self._queue)
                self._queue.clear()
                generation = self._requested
                stopping = self._stop.is_set()
            try:
                self._pass(findings)
            except Exception:  # the thread must survive anything a finding can cause
                log.exception("exporter %s: unexpected error", self.id)
            with self._cond:
                self._completed = generation
                self._cond.notify_all()
            if stopping:
                return

    def _has_work(self) -> bool:
        return (
            bool(self._queue)
            or self._stop.is_set()
            or self._requested > self._completed
            or self.clock() >= min(self._next_resend_s, self._book.next_release_s())
        )

    def _idle_s(self) -> float:
        due = min(self._next_resend_s, self._book.next_release_s())
        return min(MAX_IDLE_S, max(0.0, due - self.clock()))

    def _pass(self, findings: list[Finding]) -> None:
        now_s = self.clock()
        changed: list[HeldAlert] = []
        dropped_before = self._book.dropped
        for finding in findings:
            changed += self._book.apply(finding, now_s)
        changed += self._book.release(now_s)  # waited group_wait for an incident: alone
        dropped = self._book.dropped - dropped_before
        if dropped:
            with self._cond:
                self._stats.dropped_active += dropped
            self.count_error(dropped)
            log.warning("exporter %s: max_active_alerts reached, dropped %d", self.id, dropped)
        if now_s >= self._next_resend_s:
            self._next_resend_s = now_s + self.config.resend_interval
            changed = self._book.due(now_s)  # includes everything just changed
        if changed:
            self._post(changed, now_s)
        if changed or self._unsaved:  # a save that failed (store fault) is retried each pass
            self._save()

    def _post(self, held: list[HeldAlert], now_s: float) -> None:
        # one entry per label set: when a finding changes an alert twice in one pass, the
        # latest state is what Alertmanager should see
        unique = list({alert.fingerprint: alert for alert in held}.values())
        body = [alert.postable(now_s, self.config.resend_interval) for alert in unique]
        try:
            with_retries(
                lambda: self._send(body),
                self.config.max_retries,
                self.config.initial_backoff,
                self.config.max_backoff,
                self._stop,
                self._failed_attempt,
            )
        except PostError as exc:
            self._failed_attempt(exc)
            with self._cond:
                self._stats.posts_failed += 1
            self.count_error(1)
            log.error("exporter %s: alerts not delivered: %s", self.id, exc)
            return
        self._book.delivered(unique)
        with self._cond:
            self._stats.posts += 1
            self._stats.alerts_sent += len(body)

    def _send(self, body: list[dict[str, Any]]) -> None:
        post_alerts(
            self.config.alerts_url, body, self.config.request_headers(), self.config.timeout
        )

    def _failed_attempt(self, exc: PostError) -> None:
        with self._cond:
            self._stats.attempts_failed += 1
            self._stats.last_error = str(exc)

    def _resend_after(self) -> float:
        return self.clock() + self.config.resend_interval

    # -- persistence ------------------------------------------------------------
    def _load(self) -> Any:
        try:
            return self.context.store.load_state(self.id, STATE_NAME)
        except Exception:  # a closed or broken store must not stop alerting
            log.warning("exporter %s: could not load held alerts", self.id, exc_info=True)
            return None

    def _save(self) -> None:
        try:
            self.context.store.save_state(
                self.id, STATE_NAME, self._book.document(), int(self.clock() * 1e9)
            )
        except Exception:
            if not self._unsaved:
                log.warning("exporter %s: could not save held alerts", self.id, exc_info=True)
            self._unsaved = True
        else:
            self._unsaved = False


def create(context: Context, config: AlertmanagerConfig) -> AlertmanagerExporter:
    """Build an ``alertmanager`` exporter (the factory's constructor)."""
    return AlertmanagerExporter(context, config)


FACTORY: Factory[AlertmanagerConfig, Exporter] = Factory(
    type="alertmanager",
    config_model=AlertmanagerConfig,
    create=create,
    description="Firing and resolved alerts on Alertmanager's v2 API, re-sent while open.",
)
