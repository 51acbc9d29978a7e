"""The running program: pipeline, OTLP receivers and the API, with clean shutdown.

Shutdown order matters: receivers stop accepting first, then the pipeline
drains its queue, ticks once more and flushes the store and exporters, and
the API goes last so health stays readable while draining.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from otel_perf.api.app import API
from otel_perf.config import Config
from otel_perf.config.models import APISettings, HostMetricsReceiverConfig, OTLPReceiverConfig
from otel_perf.config.types import split_endpoint
from otel_perf.pipeline import Clock, Pipeline
from otel_perf.runtime.memory import (
    TrimSchedule,
    cap_arenas,
    freeze_startup,
    restore_collector,
    trim,
    tune_collector,
)
from otel_perf.runtime.serving import ServerThread
from otel_perf.sidecar.first_seen import FirstSeen
from otel_perf.sidecar.listeners import PortClash, check_free, urls
from otel_perf.store import Store

log = logging.getLogger("otel_perf")


class _Receiver(Protocol):
    def start(self) -> int: ...

    def stop(self, grace: float = ...) -> None: ...


@dataclass
class Ports:
    """Where each listener is bound (useful when the config asked for port 0)."""

    grpc: dict[str, int] = field(default_factory=dict)
    http: dict[str, int] = field(default_factory=dict)
    api: int | None = None


class Sidecar:
    """One otel-perf process built from a config."""

    def __init__(
        self, config: Config, store_path: str | None = None, clock: Clock = time.time_ns
    ) -> None:
        cap_arenas()  # before any of our threads start: each would grow an arena of its own
        self.config = config
        path = store_path or config.service.store.path
        store = Store(path, config.service.store.max_findings)
        self.pipeline = Pipeline(config, store, clock=clock)
        self.ports = Ports()
        self._receivers: list[tuple[str, str, _Receiver]] = []
        self._started: list[str] = []
        self._api: ServerThread | None = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._collector: tuple[int, int, int] | None = None  # thresholds before start

    def start(self) -> Ports:
        """Start everything; returns the bound ports.

        Raises:
            PortClash: a configured port cannot be listened on; nothing was started and
                nothing logged "listening". The message names the port and the setting.
        """
        from otel_perf.receiver.grpc import GrpcReceiver
        from otel_perf.receiver.http import HttpReceiver

        check_free(self.config)
        sink = FirstSeen(self.pipeline)
        try:
            self.pipeline.start()  # exporters first: a listening one binds here
            for rid in self._used_receivers():
                settings = self.config.receivers[rid]
                if isinstance(settings, HostMetricsReceiverConfig):
                    self._add_sampler(rid, settings)
                    continue
                if not isinstance(settings, OTLPReceiverConfig):
                    raise TypeError(f"receiver {rid}: no runtime for {type(settings).__name__}")
                if settings.protocols.grpc is not None:
                    self._add(rid, "grpc", GrpcReceiver(settings, sink))
                if settings.protocols.http is not None:
                    self._add(rid, "http", HttpReceiver(settings, sink))
            if "api" in self.config.service.extensions:
                self._start_api()
        except BaseException:
            self.stop()
            raise
        self._tune_collector()
        for line in self._started:  # only once every listener is up
            log.info("%s", line)
        for line in urls(self.config, self.ports, self.pipeline.exporters):
            log.info("%s", line)
        return self.ports

    def _tune_collector(self) -> None:
        """Fewer garbage collections, none walking what start-up built (runtime.memory)."""
        self._collector = tune_collector()
        frozen = freeze_startup()
        log.debug("garbage collector tuned; %d start-up objects frozen", frozen)

    def _used_receivers(self) -> list[str]:
        used: list[str] = []
        for pipeline in self.config.service.pipelines.values():
            used += [r for r in pipeline.receivers if r not in used]
        return used

    def _add(self, rid: str, protocol: str, receiver: Any) -> None:
        key = f"receivers.{rid}.protocols.{protocol}.endpoint"
        try:
            port = receiver.start()
        except OSError as exc:
            raise PortClash(f"{exc.strerror or exc}; change {key}") from None
        self._receivers.append((rid, protocol, receiver))
        getattr(self.ports, protocol)[rid] = port
        self._started.append(f"receiver {rid} listening for OTLP/{protocol} on port {port}")

    def _add_sampler(self, rid: str, settings: HostMetricsReceiverConfig) -> None:
        """A receiver that samples rather than listens (no port)."""
        from otel_perf.receiver.hostmetrics import HostMetricsReceiver

        store = self.pipeline.store.path
        here = os.path.dirname(os.path.abspath(store)) if store != ":memory:" else None
        receiver = HostMetricsReceiver(
            settings, self.pipeline, self.pipeline.clock, filesystem_path=here, component_id=rid
        )
        receiver.start()
        self._receivers.append((rid, "hostmetrics", receiver))
        self._started.append(f"receiver {rid} sampling every {settings.collection_interval:g}s")

    def _start_api(self) -> None:
        settings = self.config.extensions["api"]
        assert isinstance(settings, APISettings)
        host, port = split_endpoint(settings.endpoint)
        self._api = ServerThread(API(self.pipeline, settings).app(), host, port, "otel-perf-api")
        try:
            self.ports.api = self._api.start()
        except OSError as exc:
            raise PortClash(f"{exc.strerror or exc}; change extensions.api.endpoint") from None
        self._started.append(f"API listening on {host}:{self.ports.api}")

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, drain, flush, close. Safe to call twice."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            for _, _, receiver in self._receivers:
                receiver.stop(grace)
            self.pipeline.shutdown()
            if self._api is not None:
                self._api.stop()
            if self._collector is not None:
                restore_collector(self._collector)
                self._collector = None
            self._stopped.set()

    def wait(self) -> None:
        self._stopped.wait()

    def run_until_signalled(self) -> None:
        """Block until SIGTERM or SIGINT, then shut down cleanly."""
        requested = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("received %s, shutting down", signal.Signals(signum).name)
            requested.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        schedule = TrimSchedule(time.monotonic(), time.process_time())
        while not requested.wait(0.5):
            if schedule.due(time.monotonic(), time.process_time()):
                trim()  # off the pipeline thread; freed pages go back to the system
                schedule.ran(time.monotonic())
        self.stop()
