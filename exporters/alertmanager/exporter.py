"""The ``alertmanager`` exporter: findings as alerts on Alertmanager's v2 API.

``export()`` only offers findings to a :class:`~otel_perf.component.sender.QueueSender`
(bounded, the oldest dropped). Its worker applies each to the alert book and, once the
queue is empty, ticks: posts what changed (with the sender's retries and exponential
backoff), releases alerts whose ``group_wait`` is over and re-sends every firing alert each
``resend_interval``, as Prometheus does, so Alertmanager keeps them active; an alert no
longer re-sent resolves at its ``endsAt``. Firing alerts are kept in the store so a
restart resumes them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from otel_perf.component import Context, Exporter, Factory, component_type
from otel_perf.component.exporterhelper import LifecycleExporter
from otel_perf.component.sender import Backoff, QueueSender, Retryable, SenderSettings
from otel_perf.exporters.alertmanager.book import AlertBook, HeldAlert
from otel_perf.exporters.alertmanager.client import PostError, post_alerts
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
    dropped_active: int = 0
    last_error: str = ""


class AlertmanagerExporter(LifecycleExporter[QueueSender[Finding]]):
    """Posts firing and resolved alerts to Alertmanager from its sender's worker thread.

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
        self._guard = threading.Lock()  # the stats and the grouping switch
        self._stats = AlertmanagerStats()
        self._changed: list[HeldAlert] = []  # applied, not yet posted (the worker's)
        self._next_resend_s = 0.0
        self._unsaved = False  # the last save failed: retry it on the next tick
        self._sender: QueueSender[Finding] = QueueSender(
            SenderSettings(
                name=f"otel-perf-{self.id}",
                max_queue=config.max_queue,
                drop="oldest",  # newer state supersedes what waited
                max_attempts=config.max_retries + 1,
                backoff=Backoff(config.initial_backoff, config.max_backoff),
            ),
            send=self._apply,
            tick=self._tick,
        )

    # -- the contract ---------------------------------------------------------
    def bind_sources(self, sources: frozenset[str]) -> None:
        """Group by incident when an ``incidents`` processor feeds this exporter."""
        incidents = any(component_type(source) == "incidents" for source in sources)
        with self._guard:
            self._book.grouping = self.config.group_by_incident and incidents

    def _build(self) -> QueueSender[Finding]:
        """Load held alerts from the store and start the sender's worker (``start()``)."""
        self._book.restore(self._load())
        self._next_resend_s = self.clock() if len(self._book) else self._resend_after()
        self._sender.start()
        return self._sender

    def export(self, findings: list[Finding]) -> None:
        """Queue findings of the configured kinds; never waits on the network."""
        grouping = self._book.grouping
        dropped_before = self._sender.dropped
        for finding in findings:
            if finding.kind in self.config.kinds or (grouping and finding.kind == Kind.INCIDENT):
                self._sender.offer(finding)  # past max_queue the oldest queued is dropped
        dropped = self._sender.dropped - dropped_before
        if dropped:
            self.count_error(dropped)
            log.warning("exporter %s: queue full, dropped %d finding(s)", self.id, dropped)

    def flush(self) -> None:
        """Wait (at most ``timeout``) until what is queued now has been posted or given up on;
        an alert due for re-sending is re-sent."""
        if self._running is not None:
            self._sender.flush(self.config.timeout)

    def _close(self, sender: QueueSender[Finding]) -> None:
        """Post what is queued within ``timeout``, then stop the worker, which posts what is
        left with one attempt and saves held alerts.

        Firing alerts are not resolved: Alertmanager resolves them at their ``endsAt``
        unless a restarted exporter re-sends them first.
        """
        sender.close(self.config.timeout)

    def stats(self) -> dict[str, Any]:
        """Counters and the number of alerts held (JSON-ready)."""
        with self._guard:
            return {
                **asdict(self._stats),
                "dropped_queue": self._sender.dropped,
                "queued": len(self._sender),
                "firing": len(self._book.firing),
                "resolving": len(self._book.resolving),
            }

    # -- the worker (the sender's thread) -----------------------------------------
    def _apply(self, finding: Finding) -> None:
        """One queued finding into the book; what it changed is posted by the next tick."""
        dropped_before = self._book.dropped
        self._changed += self._book.apply(finding, self.clock())
        if self._book.dropped > dropped_before:
            with self._guard:
                self._stats.dropped_active += 1
            self.count_error(1)
            log.warning("exporter %s: max_active_alerts reached, dropped 1", self.id)

    def _tick(self) -> float:
        """Post what changed, what ``group_wait`` released and, when due, every firing
        alert; returns the seconds until the next release or re-send."""
        now_s = self.clock()
        changed, self._changed = self._changed, []
        changed += self._book.release(now_s)  # waited group_wait for an incident: alone
        if now_s >= self._next_resend_s:
            self._next_resend_s = now_s + self.config.resend_interval
            changed = self._book.due(now_s)  # includes everything just changed
        if changed:
            self._post(changed, now_s)
        if changed or self._unsaved:  # a save that failed (store fault) is retried each tick
            self._save()
        due = min(self._next_resend_s, self._book.next_release_s())
        return min(MAX_IDLE_S, max(0.0, due - self.clock()))

    def _post(self, held: list[HeldAlert], now_s: float) -> None:
        # one entry per label set: when findings change an alert twice before a tick, the
        # latest state is what Alertmanager should see
        unique = list({alert.fingerprint: alert for alert in held}.values())
        body = [alert.postable(now_s, self.config.resend_interval) for alert in unique]
        try:
            self._sender.retry(lambda: self._send(body), self._failed_attempt)
        except PostError as exc:
            self._failed_attempt(exc)
            with self._guard:
                self._stats.posts_failed += 1
            self.count_error(1)
            log.error("exporter %s: alerts not delivered: %s", self.id, exc)
            return
        self._book.delivered(unique)
        with self._guard:
            self._stats.posts += 1
            self._stats.alerts_sent += len(body)

    def _send(self, body: list[dict[str, Any]]) -> None:
        post_alerts(
            self.config.alerts_url, body, self.config.request_headers(), self.config.timeout
        )

    def _failed_attempt(self, exc: Retryable | PostError) -> None:
        with self._guard:
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
