"""Ingest throughput and memory: otel-perf vs a naive Python reader, then at cardinality.

``python -m benchmarks.ingest [--clients N] [--requests N] [--rounds N] [--cardinality-requests N]``

Client processes send pre-serialised OTLP/gRPC trace requests to three receivers,
each its own process on free loopback ports, measured in alternating rounds (naive,
native, pipeline, naive, ...) so that load from the rest of the machine falls on all
three alike:

- ``naive-reader``: a gRPC server that parses each request with the protobuf
  library and reads every field of every span into dicts (the honest floor);
- ``native-decode``: otel-perf's native decode alone (bytes to columns and records);
- ``pipeline``: ``otel-perf run`` with the embedded default config.

The receiver's CPU time (user + system) is read just before the first measured send
and right after the last span is processed and its traces analysed, so start-up and
warm-up are excluded. The pipeline's resident memory is read once it is idle after
start-up; a second ``otel-perf run`` then takes steady traffic across 1,000 services x
20 operations and reports its resident memory. Prints a table, then one JSON object as
the last line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import queue
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span

from benchmarks._args import bounded
from benchmarks._common import (
    MAX_TRACE_NS,
    SPANS_PER_REQUEST,
    TRACE_SIZE,
    ClientResult,
    _random_id,
    _set_attributes,
    build_pool,
    free_ports,
    open_channel,
    send,
)
from benchmarks._common import START_TIMEOUT_S as CLIENT_START_TIMEOUT_S
from benchmarks._fresh_ids import FreshIds, fresh_bodies, run_fresh_client
from benchmarks._memory_breakdown import measure as memory_breakdown
from benchmarks._memory_breakdown import report as report_memory

REPO = Path(__file__).resolve().parent.parent
AIM_SPANS_PER_CPU_S = 200_000
AIM_RATIO = 1.0
AIM_IDLE_RSS_MB = 100.0
AIM_CARDINALITY_RSS_MB = 200.0
BASELINES = {"naive": "naive-reader", "native": "native-decode"}
PROTOBUF_PIPELINE = "pipeline-pb"
"""``--protobuf-pipeline``: the same pipeline decoding with the protobuf library."""
"""The baseline servers (``benchmarks._decode_only_server`` modes) and their names here."""
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
IDLE_WINDOW_S = 0.2
IDLE_CPU_SHARE = 0.25
"""The receiver counts as idle below this share of one core over IDLE_WINDOW_S."""
MAX_PROBE_GAP_S = 5.0
SETTLED_S = 4.0
"""Idle this long, otel-perf has trimmed (its settle time plus two of its 0.5 s polls)."""

# -- the cardinality phase: every request is one service, with all its operations
CARDINALITY_SERVICES = 1000
RESOURCES = (
    "orders",
    "items",
    "users",
    "carts",
    "payments",
    "invoices",
    "shipments",
    "reviews",
    "coupons",
    "stock",
)
"""Each service has one route per resource (a SERVER span) and the query that route
makes (a CLIENT span): 2 x 10 = 20 operations, so 20 span-metrics series per service."""
CARDINALITY_OPERATIONS = 2 * len(RESOURCES)
TRACES_PER_ROUTE = 5  # per request
CARDINALITY_SPANS_PER_REQUEST = len(RESOURCES) * TRACES_PER_ROUTE * 2
DEFAULT_CARDINALITY_REQUESTS = 2000  # 2 per service: 200,000 spans, 10 calls per series
MAX_CARDINALITY_REQUESTS = 10_000
DEFAULT_CARDINALITY_RATE = 5000  # spans per second, all clients together


class BenchmarkError(Exception):
    """The run could not be completed; reported in one line (plus a log tail)."""


@dataclass
class Receiver:
    """A running receiver process: its gRPC address and, for otel-perf, its API."""

    name: str
    process: subprocess.Popen[bytes]
    address: str
    log: Path
    api: str | None = None
    processors: list[str] = field(default_factory=list)


@dataclass
class Measurement:
    """One receiver's figures for the measured part of the run."""

    name: str
    spans: int
    requests: int
    retries: int
    cpu_s: float
    wall_s: float
    rss_mb: float
    processors: list[str] = field(default_factory=list)
    traces_analysed: int | None = None
    """Traces the bottleneck analysis finished in the measured part (None: not exposed)."""
    thread_cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds of the measured part by thread name (a pool's numbered threads as one)."""

    @property
    def spans_per_cpu_s(self) -> float:
        return self.spans / self.cpu_s if self.cpu_s > 0 else float("inf")

    @property
    def wall_spans_per_s(self) -> float:
        return self.spans / self.wall_s if self.wall_s > 0 else float("inf")


@dataclass
class Cardinality:
    """The cardinality phase: its traffic figures and the receiver's memory afterwards."""

    measurement: Measurement
    start_rss_mb: float
    rss_mb: float
    hwm_mb: float
    settled_rss_mb: float
    """Once the receiver has been idle for :data:`SETTLED_S` after the last API read."""
    series: int | None
    overflowed_spans: int | None
    rate_spans_per_s: int
    sent_spans_per_s: float
    probe: dict[str, Any] | None = None
    """``--probe``: :mod:`benchmarks._memory_probe`'s figures once the traffic is processed."""


@dataclass
class Throughput:
    """The throughput phase: each receiver's rounds combined, and the pipeline's idle RSS."""

    receivers: dict[str, Measurement]
    idle_rss_mb: float
    rounds: dict[str, list[Measurement]]

    @property
    def naive(self) -> Measurement:
        return self.receivers[BASELINES["naive"]]

    @property
    def native(self) -> Measurement:
        return self.receivers[BASELINES["native"]]

    @property
    def pipeline(self) -> Measurement:
        return self.receivers["pipeline"]


# -- receivers -----------------------------------------------------------------


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill if it is still there after :data:`STOP_TIMEOUT_S`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a receiver's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def _spawned(
    argv: list[str], log_path: Path, pipe_stdout: bool, env: dict[str, str] | None = None
) -> Iterator[Any]:
    """Start ``argv`` from the repo root, output to ``log_path`` (stdout piped if asked).

    ``env`` adds to (or replaces in) this process's environment.

    The process is stopped on the way out, whatever happened.
    """
    with log_path.open("wb") as log:
        stdout = subprocess.PIPE if pipe_stdout else log
        environment = {**os.environ, **(env or {})}
        process = subprocess.Popen(argv, cwd=REPO, stdout=stdout, stderr=log, env=environment)
        try:
            yield process
        finally:
            stop_process(process)


@contextmanager
def baseline_receiver(tmp: Path, mode: str) -> Iterator[Receiver]:
    """``python -m benchmarks._decode_only_server MODE 0``, ready once it prints READY <port>."""
    name = BASELINES[mode]
    log = tmp / f"{name}.log"
    argv = [sys.executable, "-m", "benchmarks._decode_only_server", mode, "0"]
    with _spawned(argv, log, pipe_stdout=True) as process:
        port = _read_ready_port(process, log)
        yield Receiver(name, process, f"127.0.0.1:{port}", log)


def _read_ready_port(process: subprocess.Popen[bytes], log: Path) -> int:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline().decode().split() if ready else []
    if len(line) != 2 or line[0] != "READY":
        raise BenchmarkError(f"baseline server did not start:\n{log_tail(log)}")
    return int(line[1])


def pipeline_config(
    grpc_port: int,
    http_port: int,
    api_port: int,
    grpc_workers: int | None = None,
    queue_items: int | None = None,
) -> str:
    """The embedded default config with every endpoint moved to the given loopback ports.

    A Prometheus exporter's scrape endpoint moves to a free loopback port as well.
    ``grpc_workers`` replaces the gRPC receiver's thread count when given, and
    ``queue_items`` the queue's ``max_items``.
    """
    text = resources.files("otel_perf.config").joinpath("default.yaml").read_text()
    config = yaml.safe_load(text)
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{grpc_port}"
    if grpc_workers is not None:
        protocols["grpc"]["workers"] = grpc_workers
    protocols["http"]["endpoint"] = f"127.0.0.1:{http_port}"
    config["extensions"]["api"]["endpoint"] = f"127.0.0.1:{api_port}"
    if queue_items is not None:
        config["service"].setdefault("queue", {})["max_items"] = queue_items
    # exporters that listen (Prometheus' scrape endpoint) move too: two pipelines run at once
    for exporter_id, settings in (config.get("exporters") or {}).items():
        if exporter_id.split("/")[0] == "prometheus":
            settings["endpoint"] = f"127.0.0.1:{free_ports(1)[0]}"
    return str(yaml.safe_dump(config, sort_keys=False))


@contextmanager
def pipeline_receiver(
    tmp: Path,
    name: str = "pipeline",
    grpc_workers: int | None = None,
    env: dict[str, str] | None = None,
    queue_items: int | None = None,
    probe: Path | None = None,
    trace_frames: int = 0,
) -> Iterator[Receiver]:
    """``otel-perf run`` on free ports, ready once /performance/health answers.

    The processors it runs are read from the health answer, so the report shows
    what was measured. With ``probe``, it runs under :mod:`benchmarks._memory_probe`,
    which appends its memory figures to that file on SIGUSR1.
    """
    grpc_port, http_port, api_port = free_ports(3)
    config = tmp / f"{name}.yaml"
    config.write_text(pipeline_config(grpc_port, http_port, api_port, grpc_workers, queue_items))
    log = tmp / f"{name}.log"
    argv = [sys.executable, "-m", "otel_perf.cli", "run"]
    if probe is not None:
        argv = [sys.executable, "-m", "benchmarks._memory_probe", str(probe)]
        argv += ["--trace-frames", str(trace_frames), "--"]
    argv += ["--config", str(config), "--store", str(tmp / f"{name}.db")]
    with _spawned(argv, log, pipe_stdout=False, env=env) as process:
        api = f"http://127.0.0.1:{api_port}"
        health = _wait_healthy(api, process, log)
        processors = [str(p) for p in health.get("processors", [])]
        yield Receiver(name, process, f"127.0.0.1:{grpc_port}", log, api, processors)


@contextmanager
def cardinality_receiver(
    tmp: Path, queue_items: int | None = None, probe: Path | None = None, trace_frames: int = 0
) -> Iterator[Receiver]:
    """A fresh ``otel-perf run`` (same config) for the cardinality phase."""
    with pipeline_receiver(
        tmp, "cardinality", queue_items=queue_items, probe=probe, trace_frames=trace_frames
    ) as receiver:
        yield receiver


def read_probe(receiver: Receiver, path: Path, timeout_s: float) -> dict[str, Any]:
    """Signal the probed receiver and return the figures it appends to ``path``."""
    lines = len(path.read_text().splitlines()) if path.exists() else 0
    receiver.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if len(text.splitlines()) > lines and text.endswith("\n"):
            found: dict[str, Any] = json.loads(text.splitlines()[-1])
            return found
        time.sleep(0.2)
    raise BenchmarkError(f"{receiver.name}: the memory probe did not answer in {timeout_s}s")


def _wait_healthy(api: str, process: subprocess.Popen[bytes], log: Path) -> Any:
    """Wait until the API answers; returns the health body."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(
                f"otel-perf exited with {process.returncode} at start:\n{log_tail(log)}"
            )
        try:
            return get_json(api, "/performance/health")
        except (OSError, ValueError, httpx.HTTPError):
            time.sleep(0.1)
    raise BenchmarkError(f"otel-perf API {api} did not answer in {START_TIMEOUT_S}s")


API_TIMEOUT_S = 30.0
"""One API read; a snapshot of 20,000 series on a loaded machine can take seconds."""


def get_json(api: str, path: str, timeout_s: float = API_TIMEOUT_S) -> Any:
    """GET ``api + path`` and parse the JSON body."""
    response = httpx.get(api + path, timeout=timeout_s)
    response.raise_for_status()  # a 503 while the queue is full is not an answer yet
    return response.json()


def span_counts(api: str) -> tuple[int, int, int]:
    """(accepted, processed, rejected) spans from /performance/metrics."""
    data = get_json(api, "/performance/metrics")
    receiver = data["receiver"]
    return receiver["accepted"]["spans"], data["processed"]["spans"], receiver["rejected"]["spans"]


def wait_processed(receiver: Receiver, expected: int, timeout_s: float) -> tuple[int, int, int]:
    """Poll until the pipeline has processed ``expected`` spans; returns the final counts.

    A no-op returning zeros for a baseline receiver, which is done when it answers.
    """
    if receiver.api is None:
        return 0, 0, 0
    api = receiver.api

    def probe() -> tuple[bool, tuple[int, int, int]]:
        counts = span_counts(api)
        return counts[1] >= expected, counts

    return poll(
        receiver,
        probe,
        timeout_s,
        lambda counts: f"{receiver.name} processed {counts[1]} of {expected} spans in {timeout_s}s",
    )


def wait_analysed(receiver: Receiver, timeout_s: float) -> None:
    """Poll until the bottlenecks processor holds no trace waiting to be analysed.

    It assembles traces and analyses each one on a later tick, once the trace has
    been quiet for ``trace_quiet_time``, so "processed" alone would leave that work
    out of the measured CPU time. A no-op without a bottlenecks processor.
    """
    if receiver.api is None or "bottlenecks" not in receiver.processors:
        return
    api = receiver.api

    def probe() -> tuple[bool, int]:
        held = int(get_json(api, "/performance/bottlenecks?limit=1")["traces_held"])
        return held == 0, held

    poll(
        receiver,
        probe,
        timeout_s,
        lambda held: f"{receiver.name} still held {held} traces after {timeout_s}s",
    )


T = TypeVar("T")


def poll(
    receiver: Receiver,
    probe: Callable[[], tuple[bool, T]],
    timeout_s: float,
    describe: Callable[[T], str],
) -> T:
    """Call ``probe`` until it reports done; returns its last value.

    Each API answer costs the receiver CPU (counted as the receiver's: a snapshot
    of span metrics, a bottleneck ranking), and with 20,000 series a few hundred
    ms of it, so after the first call ``probe`` runs only once the receiver has
    been nearly idle for :data:`IDLE_WINDOW_S` (the work waited for is over, or
    has not started) and the gap since the previous call has passed, or
    :data:`MAX_PROBE_GAP_S` after the previous call. The gap starts at
    :data:`IDLE_WINDOW_S` and doubles after each answer that is not done: the
    bottleneck analysis waits ``trace_quiet_time`` (10 s) after the last span,
    and probing it five times a second through that wait cost the receiver more
    CPU than its gRPC threads.

    A probe the busy API does not answer in time (a socket timeout, or any
    other ``OSError``) counts as not done yet and is asked again later.

    Raises:
        BenchmarkError: ``describe(value)`` once ``timeout_s`` has passed.
    """
    deadline = time.monotonic() + timeout_s
    answer = _attempt(probe)
    last, gap = time.monotonic(), IDLE_WINDOW_S
    while answer is None or not answer[0]:
        if time.monotonic() > deadline:
            if answer is None:
                raise BenchmarkError(f"{receiver.name}: the API did not answer in {timeout_s}s")
            raise BenchmarkError(describe(answer[1]))
        idle = _idle(receiver.process.pid)
        since = time.monotonic() - last
        if (idle and since >= gap) or since >= MAX_PROBE_GAP_S:
            answer = _attempt(probe) or answer
            last, gap = time.monotonic(), min(2 * gap, MAX_PROBE_GAP_S)
    return answer[1]


def _attempt(probe: Callable[[], tuple[bool, T]]) -> tuple[bool, T] | None:
    """``probe()``, or None when the API did not answer (it is busy: ask again later)."""
    try:
        return probe()
    except (OSError, httpx.HTTPError):
        return None


def _idle(pid: int) -> bool:
    """Whether ``pid`` used under :data:`IDLE_CPU_SHARE` of a core over the next window."""
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    time.sleep(IDLE_WINDOW_S)
    return cpu_seconds(pid) - cpu0 < IDLE_CPU_SHARE * (time.monotonic() - wall0)


def settled_rss_mb(pid: int, timeout_s: float) -> float:
    """``pid``'s resident memory once it has been idle for :data:`SETTLED_S` in a row.

    otel-perf hands freed pages back :data:`otel_perf.runtime.memory.SETTLE_S` after a burst
    (its own ingest, ticks, or the API reads this benchmark makes); this is the memory
    it then holds. Raises BenchmarkError when it is not idle that long in ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if not _idle(pid):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLED_S:
            return rss_mb(pid)
    raise BenchmarkError(f"otel-perf was not idle for {SETTLED_S}s in {timeout_s}s")


def settle(receiver: Receiver, timeout_s: float) -> tuple[int, int, int]:
    """Wait until everything accepted so far is processed and analysed; returns the counts."""
    if receiver.api is None:
        return 0, 0, 0
    accepted = span_counts(receiver.api)[0]
    counts = wait_processed(receiver, accepted, timeout_s)
    wait_analysed(receiver, timeout_s)
    return counts


# -- process figures -------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid``."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def thread_cpu_s(pid: int) -> dict[int, tuple[str, float]]:
    """Per thread of ``pid``: its name and user + system CPU seconds so far (Linux /proc).

    otel-perf names its receiver and pipeline threads for the system
    (``otel_perf.runtime.threadnames``); other Python threads show as ``python``.
    """
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # the thread ended meanwhile
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        out[int(task.name)] = (name.rstrip("0123456789_-"), seconds)
    return out


def thread_cpu_spent(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds by thread name between two :func:`thread_cpu_s` readings."""
    spent: dict[str, float] = {}
    for tid, (name, seconds) in after.items():
        spent[name] = spent.get(name, 0.0) + seconds - before.get(tid, (name, 0.0))[1]
    return dict(sorted(spent.items(), key=lambda kv: -kv[1]))


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """The process's resident set size now (VmRSS) in MiB."""
    return _status_mb(pid, "VmRSS")


def _status_mb(pid: int, name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    raise BenchmarkError(f"no {name} in /proc/{pid}/status")


# -- clients ---------------------------------------------------------------------


def warm_up(
    receiver: Receiver, payloads: list[bytes], requests: int, stream: int, timeout_s: float
) -> None:
    """Send ``requests`` requests (ids fresh, salted by ``stream``) from this process and
    wait until they are processed and their traces analysed."""
    channel, export = open_channel(receiver.address)
    try:
        for body in fresh_bodies(payloads, requests, stream):
            send(export, body)
    finally:
        channel.close()
    settle(receiver, timeout_s)


def start_clients(
    receiver: Receiver,
    work: list[tuple[Any, ...]],
    target: Callable[..., None] = run_fresh_client,
) -> tuple[list[Any], Any, Any]:
    """Spawn one client process per entry of ``work``.

    Client ``i`` runs ``target(i, address, *work[i], start, results)``; with the
    default target an entry is ``(payloads, requests, stream)``: send ``requests``
    requests round-robin over ``payloads``, ids fresh in each. Returns the
    processes, their start Event and their results Queue.
    """
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    processes = [
        context.Process(
            target=target,
            args=(i, receiver.address, *item, start, results),
            name=f"ingest-client-{i}",
            daemon=True,
        )
        for i, item in enumerate(work)
    ]
    for process in processes:
        process.start()
    return processes, start, results


def await_ready(results: Any, clients: int, timeout_s: float) -> None:
    """Wait for every client to report that it is connected."""
    for _ in range(clients):
        message = _get(results, timeout_s, "clients to connect")
        if isinstance(message, ClientResult):
            raise BenchmarkError(f"client {message.index}: {message.error}")


def collect(results: Any, clients: int, timeout_s: float) -> list[ClientResult]:
    """Every client's result; raises if one failed."""
    outcomes = [_get(results, timeout_s, "clients to finish") for _ in range(clients)]
    for outcome in outcomes:
        if outcome.error is not None:
            raise BenchmarkError(f"client {outcome.index}: {outcome.error}")
    return list(outcomes)


def _get(results: Any, timeout_s: float, what: str) -> Any:
    try:
        return results.get(timeout=timeout_s)
    except queue.Empty:
        raise BenchmarkError(f"timed out after {timeout_s}s waiting for {what}") from None


def stop_clients(processes: list[Any]) -> None:
    """Join the clients; terminate, then kill, any that are still running."""
    for process in processes:
        process.join(timeout=STOP_TIMEOUT_S if process.exitcode is None else 0)
        if process.is_alive():
            process.terminate()
            process.join(timeout=STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join()


# -- one receiver ----------------------------------------------------------------


def streams(index: int, clients: int) -> tuple[int, list[int]]:
    """Round ``index``'s id salts: one for its warm-up, one for each client.

    Distinct across the rounds of a receiver, so no trace or span id repeats in it;
    the same for every receiver, so each gets the same bytes.
    """
    first = index * (clients + 1)
    return first, [first + 1 + i for i in range(clients)]


def measure(
    receiver: Receiver, payloads: list[bytes], args: argparse.Namespace, index: int = 0
) -> Measurement:
    """Warm up, then time ``args.clients`` clients sending ``args.requests`` requests each.

    ``index`` is the round: every request of every round carries ids of its own.
    """
    warm_up_stream, client_streams = streams(index, args.clients)
    warm_up(receiver, payloads, args.warmup, warm_up_stream, args.timeout)
    work = [(payloads, args.requests, stream) for stream in client_streams]
    processes, start, results = start_clients(receiver, work)
    try:
        await_ready(results, args.clients, args.timeout)
        accepted0, processed0, rejected0 = settle(receiver, args.timeout)
        analysed0 = traces_analysed(receiver)
        threads0 = thread_cpu_s(receiver.process.pid)
        cpu0, wall0 = cpu_seconds(receiver.process.pid), time.perf_counter()
        start.set()
        outcomes = collect(results, args.clients, args.timeout)
        requests = sum(o.requests for o in outcomes)
        spans = requests * SPANS_PER_REQUEST
        counts = wait_processed(receiver, processed0 + spans, args.timeout)
        wait_analysed(receiver, args.timeout)
        cpu1, wall1 = cpu_seconds(receiver.process.pid), time.perf_counter()
        threads = thread_cpu_spent(threads0, thread_cpu_s(receiver.process.pid))
    finally:
        stop_clients(processes)
    if receiver.api is not None:
        check_counts(counts, (accepted0, processed0, rejected0), spans)
    analysed1 = traces_analysed(receiver)
    analysed = None if analysed0 is None or analysed1 is None else analysed1 - analysed0
    return Measurement(
        name=receiver.name,
        spans=spans,
        requests=requests,
        retries=sum(o.retries for o in outcomes),
        cpu_s=cpu1 - cpu0,
        wall_s=wall1 - wall0,
        rss_mb=peak_rss_mb(receiver.process.pid),
        processors=receiver.processors,
        traces_analysed=analysed,
        thread_cpu_s=threads,
    )


def traces_analysed(receiver: Receiver) -> int | None:
    """The bottleneck processor's count of traces analysed so far (None without one)."""
    if receiver.api is None or "bottlenecks" not in receiver.processors:
        return None
    return int(get_json(receiver.api, "/performance/bottlenecks?limit=1")["traces_analysed"])


def check_counts(after: tuple[int, int, int], before: tuple[int, int, int], spans: int) -> None:
    """The pipeline must have accepted and processed exactly the spans sent, rejecting none."""
    accepted, processed, rejected = (a - b for a, b in zip(after, before, strict=True))
    if (accepted, processed, rejected) != (spans, spans, 0):
        raise BenchmarkError(
            f"sent {spans} spans but the pipeline accepted {accepted}, processed {processed} "
            f"and rejected {rejected}"
        )


def run_rounds(tmp: Path, payloads: list[bytes], args: argparse.Namespace) -> Throughput:
    """Start the three receivers, measure them in alternating rounds, stop them."""
    with ExitStack() as stack:
        receivers = [stack.enter_context(baseline_receiver(tmp, mode)) for mode in BASELINES]
        pipeline = stack.enter_context(
            pipeline_receiver(tmp, grpc_workers=args.grpc_workers, queue_items=args.queue_items)
        )
        receivers.append(pipeline)
        if args.protobuf_pipeline:
            # the same pipeline with its native decoder off: the decode's share, A/B
            off = {"OTEL_PERF_NATIVE_DECODE": "0"}
            receivers.append(
                stack.enter_context(
                    pipeline_receiver(
                        tmp, PROTOBUF_PIPELINE, args.grpc_workers, off, args.queue_items
                    )
                )
            )
        idle_rss = idle_rss_mb(pipeline, args.timeout)
        rounds: dict[str, list[Measurement]] = {r.name: [] for r in receivers}
        for i in range(args.rounds):
            for receiver in receivers:
                rounds[receiver.name].append(measure_one(receiver, payloads, args, i))
    return Throughput({name: combine(ms) for name, ms in rounds.items()}, idle_rss, rounds)


def idle_rss_mb(receiver: Receiver, timeout_s: float) -> float:
    """The receiver's resident memory once start-up work is over (its CPU use has settled)."""
    deadline = time.monotonic() + timeout_s
    while not _idle(receiver.process.pid):
        if time.monotonic() > deadline:
            raise BenchmarkError(f"{receiver.name} was not idle after {timeout_s}s")
    return rss_mb(receiver.process.pid)


def measure_one(
    receiver: Receiver, payloads: list[bytes], args: argparse.Namespace, index: int
) -> Measurement:
    """One round of one receiver; the error names the receiver and shows its log."""
    print(f"round {index + 1}: measuring {receiver.name} ...", file=sys.stderr, flush=True)
    try:
        result = measure(receiver, payloads, args, index)
    except BenchmarkError as exc:
        tail = log_tail(receiver.log)
        raise BenchmarkError(f"{receiver.name}: {exc}" + (f"\n{tail}" if tail else "")) from None
    # progress, so a later phase that fails does not lose this one's figures
    print(
        f"  {receiver.name}: {result.spans_per_cpu_s:,.0f} spans/cpu-s, "
        f"peak RSS {result.rss_mb:.1f} MB",
        file=sys.stderr,
        flush=True,
    )
    return result


def combine(rounds: list[Measurement]) -> Measurement:
    """One receiver's rounds as one measurement: totals, and the highest peak RSS."""
    return Measurement(
        name=rounds[0].name,
        spans=sum(m.spans for m in rounds),
        requests=sum(m.requests for m in rounds),
        retries=sum(m.retries for m in rounds),
        cpu_s=sum(m.cpu_s for m in rounds),
        wall_s=sum(m.wall_s for m in rounds),
        rss_mb=max(m.rss_mb for m in rounds),
        processors=rounds[0].processors,
        traces_analysed=_sum_known([m.traces_analysed for m in rounds]),
        thread_cpu_s={
            name: sum(m.thread_cpu_s.get(name, 0.0) for m in rounds)
            for name in rounds[0].thread_cpu_s
        },
    )


def _sum_known(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


# -- the cardinality phase -------------------------------------------------------


def build_cardinality_request(
    rng: random.Random, service_index: int, now_ns: int
) -> ExportTraceServiceRequest:
    """One service's request: per resource, traces of a SERVER route and the query it makes.

    Every operation of the service appears :data:`TRACES_PER_ROUTE` times; the
    spans end within the second before ``now_ns``.
    """
    service = f"svc-{service_index:04d}"
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    _set_attributes(
        resource_spans.resource.attributes,
        {
            "service.name": service,
            "service.version": f"2.{service_index % 7}.0",
            "deployment.environment.name": "production",
            "host.name": f"{service}-{rng.getrandbits(32):08x}",
            "telemetry.sdk.language": "python",
        },
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "opentelemetry.instrumentation.asgi"
    for resource in RESOURCES:
        for _ in range(TRACES_PER_ROUTE):
            _add_route_trace(rng, scope_spans, resource, now_ns)
    return request


def _add_route_trace(
    rng: random.Random, scope_spans: ScopeSpans, resource: str, now_ns: int
) -> None:
    trace_id = _random_id(rng, 16)
    duration = rng.randrange(2, 200) * 10**6
    start = now_ns - duration - rng.randrange(800 * 10**6)
    route = f"/api/{resource}/{{id}}"
    root = scope_spans.spans.add(
        trace_id=trace_id,
        span_id=_random_id(rng, 8),
        name=f"GET {route}",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration,
    )
    _set_attributes(
        root.attributes,
        {
            "http.request.method": "GET",
            "http.route": route,
            "http.response.status_code": 200,
            "url.path": f"/api/{resource}/{rng.randrange(1, 1_000_000)}",
        },
    )
    query = scope_spans.spans.add(
        trace_id=trace_id,
        span_id=_random_id(rng, 8),
        parent_span_id=root.span_id,
        name=f"SELECT {resource}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start + duration // 4,
        end_time_unix_nano=start + duration * 3 // 4,
    )
    _set_attributes(
        query.attributes,
        {
            "db.system.name": "postgresql",
            "db.operation.name": "SELECT",
            "db.query.text": f"SELECT * FROM {resource} WHERE id = $1",
        },
    )


def run_paced_client(
    index: int,
    address: str,
    seed: int,
    services: list[int],
    requests_per_s: float,
    start: Any,
    results: Any,
) -> None:
    """Cardinality client process body: one request per entry of ``services``, paced.

    Like :func:`benchmarks._fresh_ids.run_fresh_client` (ready, wait for ``start``, send,
    report), but each request is built just before it is due, so its spans are
    fresh when they arrive, and requests go out at ``requests_per_s``. Building
    one costs the client under a millisecond.
    """
    channel: Any = None
    try:
        channel, export = open_channel(address)
        results.put(("ready", index))
        if not start.wait(CLIENT_START_TIMEOUT_S):
            results.put(ClientResult(index, error="never told to start"))
            return
        rng = random.Random(seed * 1000 + index)
        began = time.monotonic()
        retries = 0
        for i, service in enumerate(services):
            delay = began + i / requests_per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            request = build_cardinality_request(rng, service, time.time_ns())
            retries += send(export, request.SerializeToString())
        results.put(ClientResult(index, len(services), retries))
    except Exception as exc:  # reported to the parent, which fails the run
        results.put(ClientResult(index, error=f"{type(exc).__name__}: {exc}"))
    finally:
        if channel is not None:
            channel.close()


def measure_cardinality(receiver: Receiver, args: argparse.Namespace) -> Cardinality:
    """Steady traffic over every service and operation, then the memory figures.

    Request ``i`` is service ``i % CARDINALITY_SERVICES``; the requests are dealt
    to the clients in turn and sent at ``--cardinality-rate`` spans per second
    in all.
    """
    pid = receiver.process.pid
    services = [i % CARDINALITY_SERVICES for i in range(args.cardinality_requests)]
    shares = [services[i :: args.clients] for i in range(args.clients)]
    per_client_rps = args.cardinality_rate / CARDINALITY_SPANS_PER_REQUEST / len(shares)
    work = [(args.seed, share, per_client_rps) for share in shares if share]
    planned_s = max(len(share) for share in shares) / per_client_rps
    processes, start, results = start_clients(receiver, work, run_paced_client)
    try:
        await_ready(results, len(work), args.timeout)
        accepted0, processed0, rejected0 = settle(receiver, args.timeout)
        start_rss = rss_mb(pid)
        before = None if args.probe is None else read_probe(receiver, args.probe, args.timeout)
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        start.set()
        outcomes = collect(results, len(work), args.timeout + planned_s)
        sent_s = time.perf_counter() - wall0
        requests = sum(o.requests for o in outcomes)
        spans = requests * CARDINALITY_SPANS_PER_REQUEST
        counts = wait_processed(receiver, processed0 + spans, args.timeout)
        wait_analysed(receiver, args.timeout)
        cpu1, wall1 = cpu_seconds(pid), time.perf_counter()
        rss, hwm = rss_mb(pid), peak_rss_mb(pid)
    finally:
        stop_clients(processes)
    check_counts(counts, (accepted0, processed0, rejected0), spans)
    series, overflowed = spanmetrics_series(receiver, args.timeout)
    settled = settled_rss_mb(pid, args.timeout)
    after = None if args.probe is None else read_probe(receiver, args.probe, args.timeout)
    measurement = Measurement(
        name=receiver.name,
        spans=spans,
        requests=requests,
        retries=sum(o.retries for o in outcomes),
        cpu_s=cpu1 - cpu0,
        wall_s=wall1 - wall0,
        rss_mb=hwm,
        processors=receiver.processors,
    )
    return Cardinality(
        measurement,
        start_rss,
        rss,
        hwm,
        settled,
        series,
        overflowed,
        rate_spans_per_s=args.cardinality_rate,
        sent_spans_per_s=spans / sent_s,
        probe=None if after is None else {"before": before, "after": after},
    )


def spanmetrics_series(
    receiver: Receiver, timeout_s: float = API_TIMEOUT_S
) -> tuple[int | None, int | None]:
    """(series, overflowed spans) summed over the span-metrics processors, if exposed.

    One read of 20,000 series' snapshot, given ``timeout_s`` (on a loaded machine it
    took longer than :data:`API_TIMEOUT_S`).
    """
    if receiver.api is None:
        return None, None
    answer = get_json(receiver.api, "/performance/metrics?limit=1", timeout_s)
    processors = answer.get("spanmetrics")
    if not isinstance(processors, dict) or not processors:
        return None, None
    snapshots = [s for s in processors.values() if isinstance(s, dict) and "series" in s]
    if not snapshots:
        return None, None
    series = sum(int(s["series"]) for s in snapshots)
    return series, sum(int(s.get("overflowed_spans", 0)) for s in snapshots)


def run_cardinality(tmp: Path, args: argparse.Namespace) -> Cardinality:
    """Start a fresh otel-perf and measure it under the cardinality traffic."""
    print(
        f"measuring cardinality ({CARDINALITY_SERVICES:,} services x "
        f"{CARDINALITY_OPERATIONS} operations, {args.cardinality_requests:,} requests at "
        f"{args.cardinality_rate:,} spans/s) ...",
        file=sys.stderr,
        flush=True,
    )
    with cardinality_receiver(tmp, args.queue_items, args.probe, args.trace_frames) as receiver:
        try:
            return measure_cardinality(receiver, args)
        except BenchmarkError as exc:
            tail = log_tail(receiver.log)
            raise BenchmarkError(f"cardinality: {exc}" + (f"\n{tail}" if tail else "")) from None


# -- report ----------------------------------------------------------------------


def table(results: list[Measurement]) -> str:
    """The figures as a small fixed-width table."""
    header = (
        f"{'receiver':<14} {'spans':>9} {'cpu s':>7} {'spans/cpu-s':>12} "
        f"{'wall s':>7} {'spans/s':>10} {'retries':>7} {'peak rss MB':>11}"
    )
    rows = [
        f"{m.name:<14} {m.spans:>9,} {m.cpu_s:>7.2f} {m.spans_per_cpu_s:>12,.0f} "
        f"{m.wall_s:>7.2f} {m.wall_spans_per_s:>10,.0f} {m.retries:>7} {m.rss_mb:>11.1f}"
        for m in results
    ]
    return "\n".join([header, "-" * len(header), *rows])


def summary(
    throughput: Throughput, cardinality: Cardinality | None, clients: int
) -> dict[str, Any]:
    """The machine-readable result; the first three keys are the contract."""
    naive, native, pipeline = throughput.naive, throughput.native, throughput.pipeline
    ratio = pipeline.spans_per_cpu_s / naive.spans_per_cpu_s
    cardinality_rss = None if cardinality is None else round(cardinality.rss_mb, 1)
    result: dict[str, Any] = {
        "spans_per_cpu_s": {
            "naive_reader": round(naive.spans_per_cpu_s),
            "native_decode": round(native.spans_per_cpu_s),
            "pipeline": round(pipeline.spans_per_cpu_s),
        },
        "ratio_vs_naive": round(ratio, 3),
        "rss_mb": {"idle": round(throughput.idle_rss_mb, 1), "cardinality": cardinality_rss},
        "rounds": {
            name: [round(m.spans_per_cpu_s) for m in ms] for name, ms in throughput.rounds.items()
        },
        "peak_rss_mb": {name: round(m.rss_mb, 1) for name, m in throughput.receivers.items()},
    }
    protobuf = throughput.receivers.get(PROTOBUF_PIPELINE)
    if protobuf is not None:
        result["spans_per_cpu_s"]["pipeline_protobuf_decode"] = round(protobuf.spans_per_cpu_s)
    if cardinality is not None:
        result["cardinality"] = cardinality_summary(cardinality)
    result.update(
        {
            "processors": pipeline.processors,
            "wall_spans_per_s": {
                name: round(m.wall_spans_per_s) for name, m in throughput.receivers.items()
            },
            "cpu_s": {name: round(m.cpu_s, 3) for name, m in throughput.receivers.items()},
            "pipeline_thread_cpu_share": thread_shares(pipeline),
            "retries": {name: m.retries for name, m in throughput.receivers.items()},
            "spans": pipeline.spans,
            "traces": {
                "sent": pipeline.spans // TRACE_SIZE,
                "analysed": pipeline.traces_analysed,
            },
            "clients": clients,
            "aims_met": aims_met(throughput, cardinality),
        }
    )
    return result


def thread_shares(measurement: Measurement) -> dict[str, float]:
    """Each thread name's share of the receiver's measured CPU (threads under 1 % left out)."""
    total = sum(measurement.thread_cpu_s.values())
    if total <= 0:
        return {}
    shares = {name: round(s / total, 3) for name, s in measurement.thread_cpu_s.items()}
    return {name: share for name, share in shares.items() if share >= 0.01}


def aims_met(throughput: Throughput, cardinality: Cardinality | None) -> dict[str, bool]:
    """Each aim of issue 18, met or not (the cardinality one only when that phase ran)."""
    pipeline = throughput.pipeline.spans_per_cpu_s
    aims = {
        "ratio_vs_naive": pipeline / throughput.naive.spans_per_cpu_s >= AIM_RATIO,
        "spans_per_cpu_s": pipeline >= AIM_SPANS_PER_CPU_S,
        "idle_rss": throughput.idle_rss_mb <= AIM_IDLE_RSS_MB,
    }
    if cardinality is not None:
        aims["cardinality_rss"] = cardinality.rss_mb <= AIM_CARDINALITY_RSS_MB
    return aims


def cardinality_summary(cardinality: Cardinality) -> dict[str, Any]:
    """The ``cardinality`` object of the JSON line (``series`` only when the API has it)."""
    m = cardinality.measurement
    body: dict[str, Any] = {
        "services": CARDINALITY_SERVICES,
        "operations": CARDINALITY_OPERATIONS,
        "rss_mb": round(cardinality.rss_mb, 1),
        "hwm_mb": round(cardinality.hwm_mb, 1),
        "settled_rss_mb": round(cardinality.settled_rss_mb, 1),
    }
    if cardinality.series is not None:
        body["series"] = cardinality.series
    body.update(
        {
            "start_rss_mb": round(cardinality.start_rss_mb, 1),
            "spans": m.spans,
            "requests": m.requests,
            "rate_spans_per_s": cardinality.rate_spans_per_s,
            "sent_spans_per_s": round(cardinality.sent_spans_per_s),
            "spans_per_cpu_s": round(m.spans_per_cpu_s),
            "cpu_s": round(m.cpu_s, 3),
            "wall_s": round(m.wall_s, 3),
            "retries": m.retries,
        }
    )
    if cardinality.overflowed_spans is not None:
        body["overflowed_spans"] = cardinality.overflowed_spans
    if cardinality.probe is not None:
        body["probe"] = cardinality.probe
    return body


def report(
    throughput: Throughput, cardinality: Cardinality | None, args: argparse.Namespace
) -> None:
    """Print the table, the aims, then the JSON line last."""
    result = summary(throughput, cardinality, args.clients)
    print(
        f"ingest: {args.rounds} alternating rounds x {args.clients} clients x {args.requests} "
        f"requests x {SPANS_PER_REQUEST} spans per receiver (pool of {args.pool} requests, "
        f"{args.warmup} warm-up requests a round)"
    )
    processors = ", ".join(throughput.pipeline.processors)
    print(f"pipeline processors (from /performance/health): {processors}")
    rows = list(throughput.receivers.values())
    if cardinality is not None:
        rows.append(cardinality.measurement)
    print(table(rows))
    for name, per_round in result["rounds"].items():
        print(f"  {name:<14} by round: {', '.join(f'{v:,}' for v in per_round)} spans/cpu-s")
    rates = result["spans_per_cpu_s"]
    aims = result["aims_met"]
    print(
        f"pipeline: {rates['pipeline']:,} spans/cpu-s (aim >= {AIM_SPANS_PER_CPU_S:,}: "
        f"{_met(aims['spans_per_cpu_s'])}); pipeline / naive reader {result['ratio_vs_naive']:.3f} "
        f"(aim >= {AIM_RATIO}: {_met(aims['ratio_vs_naive'])}); native decode alone "
        f"{rates['native_decode']:,} spans/cpu-s, naive reader {rates['naive_reader']:,}"
    )
    shares = ", ".join(f"{n} {v:.0%}" for n, v in result["pipeline_thread_cpu_share"].items())
    print(f"pipeline CPU by thread: {shares}")
    traces = result["traces"]
    print(
        f"pipeline traces: {traces['sent']:,} sent (ids fresh in every request), "
        f"{traces['analysed']} analysed by the bottleneck processor in the measured time"
    )
    print(
        f"idle RSS {throughput.idle_rss_mb:.1f} MB (aim <= {AIM_IDLE_RSS_MB:.0f}: "
        f"{_met(aims['idle_rss'])})"
    )
    if cardinality is not None:
        c = result["cardinality"]
        series = f"{c['series']:,} span-metrics series" if "series" in c else "series not exposed"
        print(
            f"cardinality: {c['services']:,} services x {c['operations']} operations "
            f"({series}), {c['requests']:,} requests, {c['spans']:,} spans sent at "
            f"{c['sent_spans_per_s']:,}/s (asked {c['rate_spans_per_s']:,}/s): "
            f"RSS {c['rss_mb']:.1f} MB after the traffic (aim <= {AIM_CARDINALITY_RSS_MB:.0f}: "
            f"{_met(aims['cardinality_rss'])}), peak {c['hwm_mb']:.1f} MB, "
            f"{c['start_rss_mb']:.1f} MB before, {c['settled_rss_mb']:.1f} MB once idle for "
            f"{SETTLED_S:g} s"
        )
    print(json.dumps(result), flush=True)


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


# -- in process: CPU per span of decode and of each processor ----------------------


LAZY_IMPORTS = ("scipy.special",)
"""``--in-process``: modules default processors import at first use (the anomaly detectors'
first score, ~0.3 s once), loaded before timing so no tick is charged for them."""
TICK_EVERY = 20
"""``--in-process``: batches between ticks (one tick interval of event time: 10,240 spans
a second at the default 1 s), and the warm-up's batches."""
S = 1_000_000_000
DATA_SPREAD_NS = S  # the in-process pool's traces start within a second


class EventClock:
    """``--in-process``'s event time, starting ``lead_ns`` after ``base_ns``.

    A batch fed now has its times moved by :attr:`shift_ns`, so its spans (which the
    pool put within ``lead_ns`` after ``base_ns``) end before :attr:`now_ns`; each
    :meth:`advance` moves the clock on, and the tick at the new time sees those spans
    as arrived at the latest the previous tick. A trace is therefore quiet, and analysed,
    at the first tick a quiet time after its last batch; :meth:`advance` by the quiet
    time plus one step drains every trace held.
    """

    def __init__(self, base_ns: int, lead_ns: int) -> None:
        self.start_ns = self.now_ns = base_ns + lead_ns

    @property
    def shift_ns(self) -> int:
        return self.now_ns - self.start_ns

    def advance(self, step_ns: int) -> int:
        self.now_ns += step_ns
        return self.now_ns


def profile_in_process(batches: int, seed: int) -> dict[str, Any]:
    """Feed natively decoded batches straight into ``Pipeline.process`` (no gRPC).

    The embedded default config with an in-memory store, driven on an event-time
    clock (:class:`EventClock`): batch ``i`` is request ``i % 32`` of the pool with
    fresh trace and span ids and its times moved with the clock; after every
    :data:`TICK_EVERY` batches the clock moves one tick interval and the pipeline
    ticks; after the last batch a tick a quiet time later analyses what is still held,
    so every trace is analysed inside a timed tick (the result counts them). One
    interval of warm-up (drained the same way) is left out. CPU time
    (``time.thread_time_ns``) of the native decode of each batch (bytes to records and
    columns), of the protobuf path it replaces (``parse`` with the protobuf library,
    then ``decode`` of the parsed messages, on the pool), and of each processor's
    ``consume_spans`` and ``tick``; the rest of ``Pipeline.process`` and ``tick`` is
    ``pipeline``. Timing runs with the garbage collector as ``otel-perf run`` sets it
    (:func:`sidecar_collector`). Returns µs per span by part, then the trace counts and
    the start-up objects frozen.
    """
    from otel_perf.config import load_config
    from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits, parse_protobuf
    from otel_perf.decode.columnar import NATIVE
    from otel_perf.pipeline import Pipeline
    from otel_perf.store import Store

    clock = time.thread_time_ns
    base_ns = (time.time_ns() // S - 3600) * S
    payloads = build_pool(32, seed, start_ns=base_ns, spread_ns=DATA_SPREAD_NS)
    pool = [FreshIds(payload) for payload in payloads]
    config = load_config(None)
    pipeline = Pipeline(config, Store(":memory:", 1000))
    pipeline.start(worker=False)
    for module in LAZY_IMPORTS:  # imported at first use, once: not a cost per span
        importlib.import_module(module)
    keys = SPAN_ATTRIBUTE_KEYS | pipeline.span_attributes
    decoder = Decoder(Limits(span_attribute_keys=keys))
    t0 = clock()
    requests: list[Any] = [parse_protobuf("traces", payload) for payload in payloads]
    t1 = clock()
    for request in requests:
        decoder.spans(request)
    t2 = clock()
    pool_spans = len(payloads) * SPANS_PER_REQUEST
    result = {
        "protobuf_parse": (t1 - t0) / pool_spans / 1e3,
        "protobuf_decode": (t2 - t1) / pool_spans / 1e3,
    }
    step_ns = int(config.service.tick_interval * S)
    drain_ns = _quiet_ns(pipeline) + step_ns
    events = EventClock(base_ns, DATA_SPREAD_NS + MAX_TRACE_NS)
    spent: dict[str, int] = {}
    for processor in pipeline.processors.values():
        _time_calls(processor, "consume_spans", spent, clock)
        _time_calls(processor, "tick", spent, clock)

    def feed(first: int, count: int) -> tuple[int, int]:
        """Batches ``first`` to ``first + count - 1``, ticks, the drain; (decode, rest) ns."""
        decode_ns = rest_ns = 0
        for i in range(first, first + count):
            body = pool[i % len(pool)].payload(1, i, events.shift_ns)
            started = clock()
            batch = decoder.spans_from_bytes(body)[0]
            decoded = clock()
            pipeline.process(batch)
            if (i - first) % TICK_EVERY == TICK_EVERY - 1 or i == first + count - 1:
                pipeline.tick(events.advance(step_ns))
            decode_ns += decoded - started
            rest_ns += clock() - decoded
        started = clock()
        pipeline.tick(events.advance(drain_ns))
        return decode_ns, rest_ns + clock() - started

    with sidecar_collector() as frozen:
        feed(0, TICK_EVERY)  # warm-up
        spent.clear()
        before = _bottlenecks_counts(pipeline)
        decode_ns, total_ns = feed(TICK_EVERY, batches)
        after = _bottlenecks_counts(pipeline)
        spent = dict(spent)  # the shutdown's own tick is not part of the figures
    pipeline.shutdown()
    spans = batches * SPANS_PER_REQUEST
    decode_name = "native_decode" if NATIVE else "decode_from_bytes (no native)"
    result = {decode_name: decode_ns / spans / 1e3, **result}
    for name, ns in sorted(spent.items()):
        result[name] = ns / spans / 1e3
    for processor_id in pipeline.processors:
        parts = [f"{processor_id} consume_spans", f"{processor_id} tick"]
        result[f"{processor_id} total"] = sum(spent.get(p, 0) for p in parts) / spans / 1e3
    result["pipeline"] = (total_ns - sum(spent.values())) / spans / 1e3
    result["processors_total"] = total_ns / spans / 1e3
    result["traces_sent"] = batches * sum(f.layout.traces for f in pool) // len(pool)
    result["traces_analysed"] = after[0] - before[0]
    result["traces_held"] = after[1]
    result["gc_frozen_objects"] = frozen
    return result


@contextmanager
def sidecar_collector() -> Iterator[int]:
    """The garbage collector as ``otel-perf run`` sets it once started, for the block.

    The sidecar raises the collection thresholds (``tune_collector``) and freezes what
    start-up built (``freeze_startup``), so its collections do not walk the modules, the
    config and the pipeline again and again; measured without them, decode and processors
    would be charged full collections the sidecar does not pay. Yields how many objects
    were frozen; the collector is put back afterwards.
    """
    from otel_perf.runtime.memory import freeze_startup, restore_collector, tune_collector

    previous = tune_collector()
    try:
        yield freeze_startup()
    finally:
        restore_collector(previous)


def _quiet_ns(pipeline: Any) -> int:
    """The longest trace quiet time among the bottlenecks processors (10 s if none)."""
    quiet = [
        int(p.config.trace_quiet_time * S)
        for p in pipeline.processors.values()
        if p.id.split("/")[0] == "bottlenecks"
    ]
    return max(quiet, default=10 * S)


def _bottlenecks_counts(pipeline: Any) -> tuple[int, int]:
    """(traces analysed, traces held) summed over the bottlenecks processors."""
    snapshots = [
        p.snapshot() for p in pipeline.processors.values() if p.id.split("/")[0] == "bottlenecks"
    ]
    return (
        sum(int(s["traces_analysed"]) for s in snapshots),
        sum(int(s["traces_held"]) for s in snapshots),
    )


def _time_calls(
    processor: Any, method: str, spent: dict[str, int], clock: Callable[[], int]
) -> None:
    """Wrap ``processor.method`` so its CPU time adds up in ``spent["<id> <method>"]``."""
    inner = getattr(processor, method)
    name = f"{processor.id} {method}"

    def timed(*args: Any) -> Any:
        started = clock()
        try:
            return inner(*args)
        finally:
            spent[name] = spent.get(name, 0) + clock() - started

    setattr(processor, method, timed)


IN_PROCESS_COUNTS = ("traces_sent", "traces_analysed", "traces_held", "gc_frozen_objects")


def report_in_process(result: dict[str, Any], batches: int) -> None:
    """The µs-per-span table, the traces analysed, then the figures as one JSON line."""
    from otel_perf.runtime.memory import GC_THRESHOLDS

    print(
        f"in process: {batches} batches x {SPANS_PER_REQUEST} spans (ids fresh in each, "
        f"an event-time tick every {TICK_EVERY}), CPU µs per span; garbage collector as "
        f"`otel-perf run` sets it (thresholds {GC_THRESHOLDS}, "
        f"{result['gc_frozen_objects']:,} start-up objects frozen)"
    )
    for name, us in result.items():
        if name not in IN_PROCESS_COUNTS:
            print(f"  {name:<32} {us:8.2f}")
    print(
        f"traces: {result['traces_sent']:,} sent, {result['traces_analysed']:,} analysed "
        f"in timed ticks, {result['traces_held']:,} still held"
    )
    figures = {
        name: value if name in IN_PROCESS_COUNTS else round(value, 3)
        for name, value in result.items()
    }
    print(json.dumps(figures), flush=True)


# -- command line ----------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; every count is bounded so a run stays short."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--clients", type=bounded(1, 32), default=2, help="client processes")
    parser.add_argument(
        "--requests", type=bounded(1, 20_000), default=300, help="requests per client"
    )
    parser.add_argument(
        "--rounds", type=bounded(1, 20), default=3, help="alternating rounds per receiver"
    )
    parser.add_argument(
        "--warmup", type=bounded(1, 1000), default=8, help="warm-up requests a round"
    )
    parser.add_argument("--pool", type=bounded(1, 256), default=32, help="distinct requests")
    parser.add_argument("--seed", type=int, default=1, help="seed of the request pools")
    parser.add_argument(
        "--cardinality-requests",
        type=_cardinality_requests,
        default=DEFAULT_CARDINALITY_REQUESTS,
        help=f"requests of the cardinality phase, each one service's {CARDINALITY_OPERATIONS} "
        f"operations x {TRACES_PER_ROUTE} ({CARDINALITY_SPANS_PER_REQUEST} spans); "
        f"0 skips the phase, else {CARDINALITY_SERVICES:,} to {MAX_CARDINALITY_REQUESTS:,}",
    )
    parser.add_argument(
        "--cardinality-rate",
        type=bounded(1000, 100_000),
        default=DEFAULT_CARDINALITY_RATE,
        help="spans per second the cardinality phase sends, all clients together",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds allowed for each wait"
    )
    parser.add_argument(
        "--grpc-workers",
        type=bounded(1, 64),
        default=None,
        help="the pipeline's gRPC receiver threads (default: the embedded config's)",
    )
    parser.add_argument(
        "--queue-items",
        type=bounded(1000, 10_000_000),
        default=None,
        help="the pipeline's service.queue.max_items (default: the embedded config's); "
        "queued spans are resident (~1 KB each, records and columns)",
    )
    parser.add_argument(
        "--probe",
        type=Path,
        default=None,
        metavar="FILE",
        help="run the cardinality phase's otel-perf under benchmarks._memory_probe and add "
        "its figures (pymalloc arenas, glibc heap, smaps, queue peak) after the traffic; "
        "they are appended to FILE as well",
    )
    parser.add_argument(
        "--protobuf-pipeline",
        action="store_true",
        help=f"also measure the pipeline with OTEL_PERF_NATIVE_DECODE=0 ({PROTOBUF_PIPELINE})",
    )
    parser.add_argument(
        "--in-process",
        type=bounded(20, 5000),
        default=None,
        metavar="BATCHES",
        help="instead: feed BATCHES decoded batches straight into Pipeline.process and "
        "print CPU µs per span of decode and of each processor",
    )
    parser.add_argument(
        "--memory-breakdown",
        action="store_true",
        help="instead: feed the cardinality phase's requests straight into Pipeline.process "
        "and print resident memory before and after, and the bytes each component retains",
    )
    parser.add_argument(
        "--trace-frames",
        type=bounded(0, 64),
        default=0,
        help="with --memory-breakdown: also trace allocations (tracemalloc, this many frames "
        "each; slow) and print them by component and by site; with --probe: trace the "
        "cardinality phase's otel-perf from its start",
    )
    return parser.parse_args(argv)


def _cardinality_requests(text: str) -> int:
    value = int(text)
    if value != 0 and not CARDINALITY_SERVICES <= value <= MAX_CARDINALITY_REQUESTS:
        raise argparse.ArgumentTypeError(
            f"must be 0 (skip) or between {CARDINALITY_SERVICES} (one per service) "
            f"and {MAX_CARDINALITY_REQUESTS}"
        )
    return value


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the finally blocks that stop the children


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it completed (whether or not the aims were met)."""
    args = parse_args(argv)
    if args.in_process is not None:
        report_in_process(profile_in_process(args.in_process, args.seed), args.in_process)
        return 0
    if args.memory_breakdown:
        requests = args.cardinality_requests or DEFAULT_CARDINALITY_REQUESTS
        figures = memory_breakdown(requests, args.cardinality_rate, args.seed, args.trace_frames)
        report_memory(figures)
        print(json.dumps(figures))
        return 0
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    payloads = build_pool(args.pool, args.seed)
    try:
        with tempfile.TemporaryDirectory(prefix="otel-perf-bench-") as name:
            tmp = Path(name)
            throughput = run_rounds(tmp, payloads, args)
            cardinality = run_cardinality(tmp, args) if args.cardinality_requests else None
    except BenchmarkError as exc:
        print(f"benchmarks.ingest: {exc}", file=sys.stderr)
        return 1
    report(throughput, cardinality, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
