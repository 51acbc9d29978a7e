"""The ``hostmetrics`` receiver: CPU, memory, disk, filesystem and network of the host or
container the sidecar runs in, plus the sidecar's own process, sampled on an interval.

Metric names and attributes follow the Collector's hostmetrics receiver
(``system.cpu.utilization``, ``system.memory.usage{state}``, ``system.disk.io{device,
direction}``, ...). It is cgroup-aware: when the sidecar's cgroup (v1 or v2) sets a CPU quota
or a memory limit, CPU and memory are reported against that limit, not the node's, and the
resource says ``otel_perf.hostmetrics.scope = "container"``.

Utilizations are ratios of deltas between two samples, so the first sample after start
carries none (as in the Collector). ``sample(now_ns)`` does one scrape and returns the
batch; the thread only calls it on the interval and submits the result.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from otel_perf.config.models import HostMetricsReceiverConfig
from otel_perf.model import AttrValue, MetricBatch, MetricPoint, MetricType, Resource
from otel_perf.receiver import Sink
from otel_perf.receiver._cgroup import CgroupError, CgroupReader, CgroupStats
from otel_perf.runtime.threadnames import name_native_thread

log = logging.getLogger("otel_perf.receiver.hostmetrics")

SCOPE_KEY = "otel_perf.hostmetrics.scope"
CUMULATIVE = 2  # OTLP AggregationTemporality
_NS = 1_000_000_000


@dataclass
class _Previous:
    """What the last sample saw, for deltas."""

    time_ns: int
    host_cpu: Any | None  # psutil scputimes
    cgroup_cpu_ns: int | None
    process_cpu_s: float | None


class HostMetricsReceiver:
    """Samples the host (or container) every ``collection_interval`` into ``sink``.

    Args:
        config: the receiver's settings.
        sink: where batches go (the pipeline).
        clock: wall clock in ns for point timestamps and elapsed time.
        filesystem_path: the path whose filesystem is reported when the config names none
            (the sidecar passes its store's).
        pid: the process the ``process`` scraper watches; this one by default.
        proc_self: where this process's ``cgroup``/``mountinfo`` are read (tests point it
            at a written tree, with ``config.cgroup_root``).
    """

    def __init__(
        self,
        config: HostMetricsReceiverConfig,
        sink: Sink,
        clock: Callable[[], int] = time.time_ns,
        filesystem_path: str | None = None,
        pid: int | None = None,
        proc_self: str | Path = "/proc/self",
        component_id: str = "hostmetrics",
    ) -> None:
        self.config = config
        self.sink = sink
        self.clock = clock
        self.id = component_id
        self.scrapers = frozenset(config.scrapers)
        self.filesystem_path = config.filesystem_path or filesystem_path or "."
        self.process = psutil.Process(pid)
        self.cgroup = CgroupReader(config.cgroup_root, proc_self)
        self.cpu_count = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (psutil.cpu_count() or 1)
        )
        self.boot_ns = int(psutil.boot_time() * _NS)
        self.host_name = socket.gethostname()
        self.container_id = self.cgroup.container_id()
        self.overflowed_devices = 0  # devices past max_devices, counted per sample
        self.errors = 0
        self._previous: _Previous | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> int:
        """Take a first sample (it primes the deltas) and start the thread; no port: 0."""
        self._collect()
        self._thread = threading.Thread(target=self._run, name="otel-perf-hostmetrics", daemon=True)
        self._thread.start()
        return 0

    def stop(self, grace: float = 5.0) -> None:
        """Stop sampling; waits up to ``grace`` seconds for a sample in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(grace)

    def _run(self) -> None:
        name_native_thread()
        while not self._stop.wait(self.config.collection_interval):
            self._collect()

    def _collect(self) -> None:
        try:
            batch = self.sample(self.clock())
        except Exception:  # a failed scrape must not end the thread: count it, go on
            self._count_error()
            log.exception("%s: sample failed", self.id)
            return
        if batch.points:
            self.sink.submit(batch)  # a full queue is counted as refused by the sink

    # -- one scrape --------------------------------------------------------------------------
    def sample(self, now_ns: int) -> MetricBatch:
        """Scrape every configured scraper at ``now_ns``; deltas against the last call."""
        stats = self._cgroup_stats()
        contained = stats is not None and stats.limited
        resource = self._resource("container" if contained else "host")
        host_cpu = psutil.cpu_times() if "cpu" in self.scrapers else None
        process_cpu = self._process_cpu() if "process" in self.scrapers else None
        previous = self._previous
        elapsed_s = (now_ns - previous.time_ns) / _NS if previous else 0.0
        capacity = (stats.cpu_limit_cores if stats and stats.cpu_limit_cores else None) or float(
            self.cpu_count
        )
        out = _Points(resource, now_ns)
        if "cpu" in self.scrapers:
            self._cpu(out, stats if contained else None, host_cpu, previous, elapsed_s, capacity)
        if "memory" in self.scrapers:
            self._memory(out, stats if contained else None)
        if "disk" in self.scrapers:
            self._disk(out)
        if "filesystem" in self.scrapers:
            self._filesystem(out)
        if "network" in self.scrapers:
            self._network(out)
        if "process" in self.scrapers and process_cpu is not None:
            self._process(out, process_cpu, previous, elapsed_s, capacity)
        self._previous = _Previous(
            now_ns,
            host_cpu,
            stats.cpu_usage_ns if stats else None,
            sum(process_cpu.values()) if process_cpu else None,
        )
        return MetricBatch(out.points)

    def _cgroup_stats(self) -> CgroupStats | None:
        try:
            return self.cgroup.read()
        except CgroupError as exc:  # fall back to host figures for this sample
            self._count_error()
            log.warning("%s: cannot read cgroup under %s: %s", self.id, self.cgroup.root, exc)
            return None

    def _count_error(self) -> None:
        self.errors += 1
        self.sink.telemetry.count(self.sink.telemetry.component_errors, self.id)

    def _resource(self, scope: str) -> Resource:
        attributes: dict[str, AttrValue] = {
            "service.name": self.config.service_name,
            "host.name": self.host_name,
            SCOPE_KEY: scope,
        }
        if self.container_id:
            attributes["container.id"] = self.container_id
        return Resource(attributes)

    def _cpu(
        self,
        out: _Points,
        stats: CgroupStats | None,
        host_cpu: Any,
        previous: _Previous | None,
        elapsed_s: float,
        capacity: float,
    ) -> None:
        if stats is not None and stats.cpu_usage_ns is not None:
            out.sum("container.cpu.time", "s", stats.cpu_usage_ns / _NS, self.boot_ns)
            if previous and previous.cgroup_cpu_ns is not None and elapsed_s > 0:
                used_s = (stats.cpu_usage_ns - previous.cgroup_cpu_ns) / _NS
                if used_s >= 0:  # a negative delta is a counter reset: skip this once
                    out.gauge("system.cpu.utilization", "1", used_s / (elapsed_s * capacity))
        else:
            for state, seconds in _cpu_states(host_cpu).items():
                out.sum("system.cpu.time", "s", seconds, self.boot_ns, {"state": state})
            if previous and previous.host_cpu is not None:
                utilization = host_cpu_utilization(previous.host_cpu, host_cpu)
                if utilization is not None:
                    out.gauge("system.cpu.utilization", "1", utilization)
        out.sum("system.cpu.logical.count", "{cpu}", capacity, monotonic=False)

    def _memory(self, out: _Points, stats: CgroupStats | None) -> None:
        if stats is not None and stats.memory_limit_bytes is not None:
            total = stats.memory_limit_bytes
            current = stats.memory_usage_bytes or 0
            used = max(0, current - stats.memory_inactive_file_bytes)  # the working set
            states = {"used": used, "cached": current - used, "free": max(0, total - current)}
        else:
            memory = psutil.virtual_memory()
            total = memory.total
            states = {
                "free": memory.free,
                "buffered": memory.buffers,
                "cached": memory.cached,
                "used": max(0, total - memory.free - memory.buffers - memory.cached),
            }
        out.sum("system.memory.limit", "By", total, monotonic=False)
        for state, value in states.items():
            out.sum("system.memory.usage", "By", value, monotonic=False, attrs={"state": state})
            out.gauge("system.memory.utilization", "1", value / total, {"state": state})

    def _disk(self, out: _Points) -> None:
        counters = psutil.disk_io_counters(perdisk=True) or {}
        for device, io in self._bounded(counters.items()):
            for direction, value in (("read", io.read_bytes), ("write", io.write_bytes)):
                attrs = {"device": device, "direction": direction}
                out.sum("system.disk.io", "By", value, self.boot_ns, attrs)

    def _filesystem(self, out: _Points) -> None:
        path = os.path.abspath(self.filesystem_path)
        usage = psutil.disk_usage(path)
        part = _partition_of(path)
        attrs: dict[str, AttrValue] = {
            "device": part.device if part else "unknown",
            "mountpoint": part.mountpoint if part else path,
            "type": part.fstype if part else "unknown",
            "mode": "ro" if part and "ro" in part.opts.split(",") else "rw",
        }
        reserved = max(0, usage.total - usage.used - usage.free)
        for state, value in (("used", usage.used), ("free", usage.free), ("reserved", reserved)):
            out.sum(
                "system.filesystem.usage",
                "By",
                value,
                monotonic=False,
                attrs={**attrs, "state": state},
            )
        # of the space users may fill (as df shows it): 1.0 means the store cannot grow
        usable = usage.used + usage.free
        out.gauge("system.filesystem.utilization", "1", usage.used / usable if usable else 0, attrs)

    def _network(self, out: _Points) -> None:
        counters = psutil.net_io_counters(pernic=True) or {}
        for device, io in self._bounded(counters.items()):
            for direction, value in (("receive", io.bytes_recv), ("transmit", io.bytes_sent)):
                attrs = {"device": device, "direction": direction}
                out.sum("system.network.io", "By", value, self.boot_ns, attrs)

    def _process_cpu(self) -> dict[str, float] | None:
        """The watched process's CPU seconds by state, None once it has gone."""
        try:
            times = self.process.cpu_times()
        except psutil.NoSuchProcess:
            return None
        return {"user": times.user, "system": times.system}

    def _process(
        self,
        out: _Points,
        cpu: dict[str, float],
        previous: _Previous | None,
        elapsed_s: float,
        capacity: float,
    ) -> None:
        try:
            rss = self.process.memory_info().rss
            start_ns = int(self.process.create_time() * _NS)
        except psutil.NoSuchProcess:
            return
        attrs: dict[str, AttrValue] = {"process.pid": self.process.pid}
        for state, seconds in cpu.items():
            out.sum("process.cpu.time", "s", seconds, start_ns, {**attrs, "state": state})
        out.sum("process.memory.usage", "By", rss, monotonic=False, attrs=attrs)
        if previous and previous.process_cpu_s is not None and elapsed_s > 0:
            used_s = max(0.0, sum(cpu.values()) - previous.process_cpu_s)
            out.gauge("process.cpu.utilization", "1", used_s / (elapsed_s * capacity), attrs)

    def _bounded(self, items: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """At most ``max_devices`` devices (sorted by name); the rest are counted."""
        ordered = sorted(items)
        limit = self.config.max_devices
        if len(ordered) > limit:
            if not self.overflowed_devices:
                log.warning(
                    "%s: more than max_devices=%d devices; the rest are left out", self.id, limit
                )
            self.overflowed_devices += len(ordered) - limit
        return ordered[:limit]


def host_cpu_utilization(before: Any, after: Any) -> float | None:
    """Busy share of all CPUs between two ``psutil.cpu_times()``: 1 - (idle + iowait) / total.

    ``guest`` time is already inside ``user`` on Linux, so it is not counted twice.
    """
    states_before, states_after = _cpu_states(before), _cpu_states(after)
    total = sum(states_after.values()) - sum(states_before.values())
    if total <= 0:
        return None
    idle = sum(states_after[s] - states_before[s] for s in ("idle", "wait") if s in states_after)
    return min(1.0, max(0.0, 1.0 - idle / total))


def _cpu_states(times: Any) -> dict[str, float]:
    """psutil field names -> the Collector's ``state`` values."""
    names = {"iowait": "wait", "irq": "interrupt", "softirq": "softirq", "steal": "steal"}
    out: dict[str, float] = {}
    for field in times._fields:
        if field in ("guest", "guest_nice"):
            continue
        out[names.get(field, field)] = float(getattr(times, field))
    return out


def _partition_of(path: str) -> Any | None:
    """The mounted partition holding ``path``: the longest mountpoint that prefixes it."""
    best = None
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint.rstrip("/") + "/"
        if (path + "/").startswith(mount) and (best is None or len(mount) > len(best.mountpoint)):
            best = part
    return best


class _Points:
    """Builds the points of one sample: same resource, same timestamp."""

    def __init__(self, resource: Resource, now_ns: int) -> None:
        self.resource = resource
        self.now_ns = now_ns
        self.points: list[MetricPoint] = []

    def gauge(
        self, name: str, unit: str, value: float, attrs: Mapping[str, AttrValue] | None = None
    ) -> None:
        self.points.append(
            MetricPoint(
                self.resource,
                name,
                unit,
                MetricType.GAUGE,
                dict(attrs or {}),
                self.now_ns,
                value=float(value),
            )
        )

    def sum(
        self,
        name: str,
        unit: str,
        value: float,
        start_ns: int = 0,
        attrs: Mapping[str, AttrValue] | None = None,
        monotonic: bool = True,
    ) -> None:
        """A cumulative sum; ``monotonic=False`` for up-down figures like memory in use."""
        self.points.append(
            MetricPoint(
                self.resource,
                name,
                unit,
                MetricType.SUM,
                dict(attrs or {}),
                self.now_ns,
                start_ns=start_ns or self.now_ns,
                value=float(value),
                is_monotonic=monotonic,
                temporality=CUMULATIVE,
            )
        )
