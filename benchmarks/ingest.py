"""Ingest throughput: spans per receiver-CPU-second, otel-perf vs a decode-only gRPC server.

``python -m benchmarks.ingest [--clients N] [--requests N]``

Client processes send pre-serialised OTLP/gRPC trace requests to two receivers
in turn, each its own process on free loopback ports: a decode-only server
(parse and discard) and ``otel-perf run`` with the embedded default config.
The receiver's CPU time (user + system) is read just before the first
measured send and right after the last span is processed, so start-up and
warm-up are excluded. Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import queue
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psutil
import yaml

from benchmarks._common import (
    SPANS_PER_REQUEST,
    ClientResult,
    build_pool,
    free_ports,
    open_channel,
    run_client,
    send_many,
)

REPO = Path(__file__).resolve().parent.parent
AIM_SPANS_PER_CPU_S = 100_000
AIM_RATIO = 0.5
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05


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

    @property
    def spans_per_cpu_s(self) -> float:
        return self.spans / self.cpu_s if self.cpu_s > 0 else float("inf")

    @property
    def wall_spans_per_s(self) -> float:
        return self.spans / self.wall_s if self.wall_s > 0 else float("inf")


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
def _spawned(argv: list[str], log_path: Path, pipe_stdout: bool) -> Iterator[Any]:
    """Start ``argv`` from the repo root, output to ``log_path`` (stdout piped if asked).

    The process is stopped on the way out, whatever happened.
    """
    with log_path.open("wb") as log:
        stdout = subprocess.PIPE if pipe_stdout else log
        process = subprocess.Popen(argv, cwd=REPO, stdout=stdout, stderr=log)
        try:
            yield process
        finally:
            stop_process(process)


@contextmanager
def decode_only_receiver(tmp: Path) -> Iterator[Receiver]:
    """``python -m benchmarks._decode_only_server 0``, ready once it prints READY <port>."""
    log = tmp / "decode-only.log"
    argv = [sys.executable, "-m", "benchmarks._decode_only_server", "0"]
    with _spawned(argv, log, pipe_stdout=True) as process:
        port = _read_ready_port(process, log)
        yield Receiver("decode-only", process, f"127.0.0.1:{port}", log)


def _read_ready_port(process: subprocess.Popen[bytes], log: Path) -> int:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline().decode().split() if ready else []
    if len(line) != 2 or line[0] != "READY":
        raise BenchmarkError(f"decode-only server did not start:\n{log_tail(log)}")
    return int(line[1])


def pipeline_config(grpc_port: int, http_port: int, api_port: int) -> str:
    """The embedded default config with every endpoint moved to the given loopback ports."""
    text = resources.files("otel_perf.config").joinpath("default.yaml").read_text()
    config = yaml.safe_load(text)
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{grpc_port}"
    protocols["http"]["endpoint"] = f"127.0.0.1:{http_port}"
    config["extensions"]["api"]["endpoint"] = f"127.0.0.1:{api_port}"
    return str(yaml.safe_dump(config, sort_keys=False))


@contextmanager
def pipeline_receiver(tmp: Path) -> Iterator[Receiver]:
    """``otel-perf run`` on free ports, ready once /performance/health answers."""
    grpc_port, http_port, api_port = free_ports(3)
    config = tmp / "otel-perf.yaml"
    config.write_text(pipeline_config(grpc_port, http_port, api_port))
    log = tmp / "otel-perf.log"
    argv = [sys.executable, "-m", "otel_perf.cli", "run", "--config", str(config)]
    argv += ["--store", str(tmp / "bench.db")]
    with _spawned(argv, log, pipe_stdout=False) as process:
        api = f"http://127.0.0.1:{api_port}"
        _wait_healthy(api, process, log)
        yield Receiver("pipeline", process, f"127.0.0.1:{grpc_port}", log, api)


def _wait_healthy(api: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(
                f"otel-perf exited with {process.returncode} at start:\n{log_tail(log)}"
            )
        try:
            get_json(api, "/performance/health")
            return
        except (OSError, ValueError):
            time.sleep(0.1)
    raise BenchmarkError(f"otel-perf API {api} did not answer in {START_TIMEOUT_S}s")


def get_json(api: str, path: str) -> Any:
    """GET ``api + path`` and parse the JSON body."""
    with urllib.request.urlopen(api + path, timeout=5) as response:  # noqa: S310 (loopback)
        return json.load(response)


def span_counts(api: str) -> tuple[int, int, int]:
    """(accepted, processed, rejected) spans from /performance/metrics."""
    data = get_json(api, "/performance/metrics")
    receiver = data["receiver"]
    return receiver["accepted"]["spans"], data["processed"]["spans"], receiver["rejected"]["spans"]


def wait_processed(receiver: Receiver, expected: int, timeout_s: float) -> tuple[int, int, int]:
    """Poll until the pipeline has processed ``expected`` spans; returns the final counts.

    A no-op returning zeros for the decode-only receiver, which is done when it answers.
    """
    if receiver.api is None:
        return 0, 0, 0
    deadline = time.monotonic() + timeout_s
    while True:
        counts = span_counts(receiver.api)
        if counts[1] >= expected:
            return counts
        if time.monotonic() > deadline:
            raise BenchmarkError(
                f"pipeline processed {counts[1]} of {expected} spans in {timeout_s}s"
            )
        time.sleep(POLL_S)


def settle(receiver: Receiver, timeout_s: float) -> tuple[int, int, int]:
    """Wait until everything accepted so far is processed; returns the counts."""
    if receiver.api is None:
        return 0, 0, 0
    accepted = span_counts(receiver.api)[0]
    return wait_processed(receiver, accepted, timeout_s)


# -- process figures -------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid``."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchmarkError(f"no VmHWM in /proc/{pid}/status")


# -- clients ---------------------------------------------------------------------


def warm_up(receiver: Receiver, payloads: list[bytes], requests: int, timeout_s: float) -> None:
    """Send ``requests`` requests from this process and wait until they are processed."""
    channel, export = open_channel(receiver.address)
    try:
        send_many(export, payloads, requests)
    finally:
        channel.close()
    settle(receiver, timeout_s)


def start_clients(
    receiver: Receiver, payloads: list[bytes], clients: int, requests: int
) -> tuple[list[Any], Any, Any]:
    """Spawn the client processes; returns them, their start Event and their results Queue."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    processes = [
        context.Process(
            target=run_client,
            args=(i, receiver.address, payloads, requests, start, results),
            name=f"ingest-client-{i}",
            daemon=True,
        )
        for i in range(clients)
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


def measure(receiver: Receiver, payloads: list[bytes], args: argparse.Namespace) -> Measurement:
    """Warm up, then time ``args.clients`` clients sending ``args.requests`` requests each."""
    warm_up(receiver, payloads, args.warmup, args.timeout)
    processes, start, results = start_clients(receiver, payloads, args.clients, args.requests)
    try:
        await_ready(results, args.clients, args.timeout)
        accepted0, processed0, rejected0 = settle(receiver, args.timeout)
        cpu0, wall0 = cpu_seconds(receiver.process.pid), time.perf_counter()
        start.set()
        outcomes = collect(results, args.clients, args.timeout)
        requests = sum(o.requests for o in outcomes)
        spans = requests * SPANS_PER_REQUEST
        counts = wait_processed(receiver, processed0 + spans, args.timeout)
        cpu1, wall1 = cpu_seconds(receiver.process.pid), time.perf_counter()
    finally:
        stop_clients(processes)
    if receiver.api is not None:
        check_counts(counts, (accepted0, processed0, rejected0), spans)
    return Measurement(
        name=receiver.name,
        spans=spans,
        requests=requests,
        retries=sum(o.retries for o in outcomes),
        cpu_s=cpu1 - cpu0,
        wall_s=wall1 - wall0,
        rss_mb=peak_rss_mb(receiver.process.pid),
    )


def check_counts(after: tuple[int, int, int], before: tuple[int, int, int], spans: int) -> None:
    """The pipeline must have accepted and processed exactly the spans sent, rejecting none."""
    accepted, processed, rejected = (a - b for a, b in zip(after, before, strict=True))
    if (accepted, processed, rejected) != (spans, spans, 0):
        raise BenchmarkError(
            f"sent {spans} spans but the pipeline accepted {accepted}, processed {processed} "
            f"and rejected {rejected}"
        )


def run_receiver(
    name: str,
    start: Callable[[Path], AbstractContextManager[Receiver]],
    tmp: Path,
    payloads: list[bytes],
    args: argparse.Namespace,
) -> Measurement:
    """Start one receiver, measure it and stop it, whatever happens."""
    print(f"measuring {name} ...", file=sys.stderr, flush=True)
    with start(tmp) as receiver:
        try:
            return measure(receiver, payloads, args)
        except BenchmarkError as exc:
            tail = log_tail(receiver.log)
            raise BenchmarkError(f"{name}: {exc}" + (f"\n{tail}" if tail else "")) from None


# -- report ----------------------------------------------------------------------


def table(results: list[Measurement]) -> str:
    """The figures as a small fixed-width table."""
    header = (
        f"{'receiver':<12} {'spans':>9} {'cpu s':>7} {'spans/cpu-s':>12} "
        f"{'wall s':>7} {'spans/s':>10} {'retries':>7} {'peak rss MB':>11}"
    )
    rows = [
        f"{m.name:<12} {m.spans:>9,} {m.cpu_s:>7.2f} {m.spans_per_cpu_s:>12,.0f} "
        f"{m.wall_s:>7.2f} {m.wall_spans_per_s:>10,.0f} {m.retries:>7} {m.rss_mb:>11.1f}"
        for m in results
    ]
    return "\n".join([header, "-" * len(header), *rows])


def summary(decode_only: Measurement, pipeline: Measurement, clients: int) -> dict[str, Any]:
    """The machine-readable result; the first three keys are the contract."""
    ratio = pipeline.spans_per_cpu_s / decode_only.spans_per_cpu_s
    return {
        "spans_per_cpu_s": {
            "decode_only": round(decode_only.spans_per_cpu_s),
            "pipeline": round(pipeline.spans_per_cpu_s),
        },
        "ratio": round(ratio, 3),
        "rss_mb": round(pipeline.rss_mb, 1),
        "wall_spans_per_s": {
            "decode_only": round(decode_only.wall_spans_per_s),
            "pipeline": round(pipeline.wall_spans_per_s),
        },
        "cpu_s": {"decode_only": round(decode_only.cpu_s, 3), "pipeline": round(pipeline.cpu_s, 3)},
        "retries": {"decode_only": decode_only.retries, "pipeline": pipeline.retries},
        "spans": pipeline.spans,
        "clients": clients,
        "aims_met": bool(pipeline.spans_per_cpu_s >= AIM_SPANS_PER_CPU_S and ratio >= AIM_RATIO),
    }


def report(decode_only: Measurement, pipeline: Measurement, args: argparse.Namespace) -> None:
    """Print the table, the aims, then the JSON line last."""
    result = summary(decode_only, pipeline, args.clients)
    print(
        f"ingest: {args.clients} clients x {args.requests} requests x {SPANS_PER_REQUEST} spans "
        f"per receiver (pool of {args.pool} requests, {args.warmup} warm-up requests)"
    )
    print(table([decode_only, pipeline]))
    print(
        f"pipeline: {result['spans_per_cpu_s']['pipeline']:,} spans/cpu-s "
        f"(aim >= {AIM_SPANS_PER_CPU_S:,}); ratio pipeline/decode-only {result['ratio']:.3f} "
        f"(aim >= {AIM_RATIO}); aims {'met' if result['aims_met'] else 'NOT met'}"
    )
    print(json.dumps(result), flush=True)


# -- command line ----------------------------------------------------------------


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; every count is bounded so a run stays short."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--clients", type=_bounded(1, 32), default=2, help="client processes")
    parser.add_argument(
        "--requests", type=_bounded(1, 20_000), default=300, help="requests per client"
    )
    parser.add_argument("--warmup", type=_bounded(1, 1000), default=8, help="warm-up requests")
    parser.add_argument("--pool", type=_bounded(1, 256), default=32, help="distinct requests")
    parser.add_argument("--seed", type=int, default=1, help="seed of the request pool")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds allowed for each wait"
    )
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the finally blocks that stop the children


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it completed (whether or not the aims were met)."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    payloads = build_pool(args.pool, args.seed)
    try:
        with tempfile.TemporaryDirectory(prefix="otel-perf-bench-") as name:
            tmp = Path(name)
            decode_only = run_receiver("decode-only", decode_only_receiver, tmp, payloads, args)
            pipeline = run_receiver("pipeline", pipeline_receiver, tmp, payloads, args)
    except BenchmarkError as exc:
        print(f"benchmarks.ingest: {exc}", file=sys.stderr)
        return 1
    report(decode_only, pipeline, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
