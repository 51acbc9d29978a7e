"""Soak and faults: sustained load, 2x overload with SDK clients, kill -9 and restart.

``python -m benchmarks.soak [--seconds N] [--capacity SPANS_PER_S] [--overload-seconds N]``

One ``otel-perf run`` (the embedded default config, every processor on, loopback ports,
``service.store.flush_interval`` from ``--flush-interval``) goes through four phases:

a. capacity: client processes send pre-serialised 512-span requests flat out for
   ``--capacity-seconds``; capacity is the spans/s the pipeline processed (or
   ``--capacity`` skips this).
b. sustain: 80 % of capacity for ``--seconds``, the sidecar's RSS sampled every second:
   start, end, max, and the slope over the second half (MiB/min) to show it levels off.
c. overload: 2x capacity for ``--overload-seconds`` from processes using the real OTel SDK
   exporter (``OTLPSpanExporter`` over gRPC, with its retries); each counts spans
   exported and spans its exporter gave up on. Received is the sidecar's accepted-spans
   counter over the phase; it must equal what was sent by clients that did not give up.
d. kill -9 under 80 % load, restart on the same store and ports: recovery time (process
   start to healthy and accepting) and what SLO windows, regression baselines and
   capacity usage history lost (read over the API before and after).

Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from benchmarks._common import (
    SERVICES,
    SPANS_PER_REQUEST,
    build_pool,
    build_request,
    free_ports,
    open_channel,
    send,
)
from benchmarks.ingest import BenchmarkError, get_json, log_tail, pipeline_config, stop_process

START_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 60.0
POOL = 8
REFRESH_POOL_S = 20.0  # rebuild requests so span times stay recent
SDK_BATCH = 512


# -- client processes ------------------------------------------------------------------


def raw_client(
    address: str, seed: int, spans_per_s: float, stop: Any, sent: Any, gave_up: Any
) -> None:
    """Send pre-serialised requests at ``spans_per_s`` (0: flat out) until ``stop``,
    retrying refusals (RESOURCE_EXHAUSTED) with backoff like an SDK."""
    channel, export = open_channel(address)
    try:
        pool, built = build_pool(POOL, seed), time.monotonic()
        began, i = time.monotonic(), 0
        while not stop.is_set():
            if spans_per_s > 0:
                delay = began + i * SPANS_PER_REQUEST / spans_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(min(delay, 0.5))
                    continue
            try:
                send(export, pool[i % POOL])
            except Exception:  # retries ran out, or the sidecar was killed
                with gave_up.get_lock():
                    gave_up.value += SPANS_PER_REQUEST
                return
            with sent.get_lock():
                sent.value += SPANS_PER_REQUEST
            i += 1
            if time.monotonic() - built > REFRESH_POOL_S:
                pool, built = build_pool(POOL, seed + i), time.monotonic()
    finally:
        channel.close()


def sdk_client(endpoint: str, spans_per_s: float, seconds: float, results: Any) -> None:
    """An app with the OTel SDK: export batches of real spans at ``spans_per_s`` through
    ``OTLPSpanExporter`` (gRPC, its own retries) for ``seconds``; report what it did."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "overload"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("soak")
    for _ in range(SDK_BATCH):
        with tracer.start_as_current_span("GET /soak", kind=SpanKind.SERVER):
            pass
    batch = list(memory.get_finished_spans())
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=20)
    sent = gave_up = 0
    began = time.monotonic()
    i = 0
    while time.monotonic() - began < seconds:
        delay = began + i * SDK_BATCH / spans_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if exporter.export(batch) == SpanExportResult.SUCCESS:
            sent += len(batch)
        else:
            gave_up += len(batch)
        i += 1
    exporter.shutdown()
    results.put({"sent": sent, "gave_up": gave_up})


class Load:
    """Raw client processes at a total rate (0: flat out), stopped on exit."""

    def __init__(self, address: str, clients: int, spans_per_s: float, seed: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.sent = context.Value("q", 0)
        self.gave_up = context.Value("q", 0)
        each = spans_per_s / clients
        self.processes = [
            context.Process(
                target=raw_client,
                args=(address, seed + n, each, self.stop, self.sent, self.gave_up),
            )
            for n in range(clients)
        ]
        for process in self.processes:
            process.start()

    def close(self) -> None:
        self.stop.set()
        for process in self.processes:
            process.join(15)
            if process.is_alive():
                process.kill()
                process.join()

    def __enter__(self) -> Load:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the sidecar -----------------------------------------------------------------------


class Sidecar:
    """``otel-perf run`` on fixed loopback ports and one store, restartable."""

    def __init__(self, tmp: Path, flush_interval_s: float, queue_items: int | None) -> None:
        grpc, http, api = free_ports(3)
        config = yaml.safe_load(pipeline_config(grpc, http, api))
        flush = f"{flush_interval_s}s"
        config["service"]["store"] = {"flush_interval": flush}
        if queue_items:
            config["service"]["queue"] = {"max_items": queue_items}
        # processors save at most once per save_interval (default 60 s, anomaly 300 s):
        # the loss bound after kill -9 is the larger of that and the flush interval
        processors = config["processors"]
        processors["slo"] = {"evaluation_interval": "1s", "save_interval": flush}
        for name in ("regression", "cache", "anomaly"):
            processors[name] = {"save_interval": flush}
        self.config = tmp / "soak.yaml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.store = tmp / "soak.db"
        self.log = tmp / "soak.log"
        self.address = f"127.0.0.1:{grpc}"
        self.api = f"http://127.0.0.1:{api}"
        self.process: Any = None

    def start(self) -> float:
        """Start and wait until healthy and accepting; returns the seconds that took."""
        began = time.monotonic()
        argv = [sys.executable, "-m", "otel_perf.cli", "run", "--config", str(self.config)]
        argv += ["--store", str(self.store)]
        with self.log.open("ab") as log:
            self.process = psutil.Popen(argv, stdout=log, stderr=log)
        while time.monotonic() - began < START_TIMEOUT_S:
            if self.process.poll() is not None:
                raise BenchmarkError(f"otel-perf exited at start:\n{log_tail(self.log)}")
            try:
                get_json(self.api, "/performance/health")
                channel, export = open_channel(self.address)
                send(export, probe_request())  # accepting, not just listening
                channel.close()
                return time.monotonic() - began
            except (OSError, ValueError, httpx.HTTPError):
                time.sleep(0.05)
        raise BenchmarkError(f"otel-perf not healthy in {START_TIMEOUT_S}s:\n{log_tail(self.log)}")

    def get(self, path: str) -> Any:
        return get_json(self.api, path)

    def post(self, path: str, body: Any) -> Any:
        response = httpx.post(self.api + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def spans(self, counter: str) -> int:
        body = self.get("/performance/metrics")
        if counter == "processed":
            return int(body["processed"]["spans"])
        return int(body["receiver"][counter]["spans"])

    def rss_mb(self) -> float:
        return float(self.process.memory_info().rss) / 2**20

    def settle(self) -> None:
        """Wait until everything accepted has been processed."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while self.spans("processed") < self.spans("accepted"):
            if time.monotonic() > deadline:
                raise BenchmarkError("the pipeline did not catch up with what it accepted")
            time.sleep(0.1)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


def probe_request(service: str = "soak-probe") -> bytes:
    """One trace (one SERVER span) of ``service``, by default one no phase sends as."""
    request = build_request(random.Random(1), SERVICES[0], 8, time.time_ns())
    request.resource_spans[0].resource.attributes[0].value.string_value = service
    body: bytes = request.SerializeToString()
    return body


# -- phases ----------------------------------------------------------------------------


def measure_capacity(sidecar: Sidecar, seconds: float, clients: int) -> float:
    with Load(sidecar.address, clients, 0, seed=1):
        time.sleep(min(2.0, seconds / 4))  # warm-up
        before, began = sidecar.spans("processed"), time.monotonic()
        time.sleep(seconds)
        done, ended = sidecar.spans("processed"), time.monotonic()
    sidecar.settle()
    return (done - before) / (ended - began)


def sustain(sidecar: Sidecar, rate: float, seconds: float, clients: int) -> dict[str, Any]:
    samples: list[tuple[float, float]] = []
    before = sidecar.spans("processed")
    began = time.monotonic()
    with Load(sidecar.address, clients, rate, seed=100):
        while (elapsed := time.monotonic() - began) < seconds:
            samples.append((elapsed, sidecar.rss_mb()))
            time.sleep(max(0.0, len(samples) - (time.monotonic() - began)))
        processed = sidecar.spans("processed") - before
        elapsed = time.monotonic() - began
    sidecar.settle()
    half = [s for s in samples if s[0] >= seconds / 2]
    return {
        "target_spans_per_s": round(rate),
        "sustained_spans_per_s": round(processed / elapsed),
        "rss_start_mb": round(samples[0][1], 1),
        "rss_end_mb": round(samples[-1][1], 1),
        "rss_max_mb": round(max(m for _, m in samples), 1),
        "rss_slope_last_half_mb_per_min": round(slope(half) * 60, 2),
        "rss_samples": len(samples),
    }


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


def overload(sidecar: Sidecar, rate: float, seconds: float, clients: int) -> dict[str, Any]:
    """Raw clients offer ``rate``; SDK client processes add what they can on top."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    accepted, refused = sidecar.spans("accepted"), sidecar.spans("refused")
    sdk = [
        context.Process(target=sdk_client, args=(sidecar.address, rate, seconds, results))
        for _ in range(clients)
    ]
    began = time.monotonic()
    with Load(sidecar.address, clients, rate, seed=300) as load:
        for process in sdk:
            process.start()
        time.sleep(seconds)
        load.close()
        reports = [results.get(timeout=120) for _ in sdk]
        for process in sdk:
            process.join(10)
        raw_sent, raw_gave_up = load.sent.value, load.gave_up.value
    elapsed = time.monotonic() - began
    sidecar.settle()
    sdk_sent = sum(r["sent"] for r in reports)
    sent = raw_sent + sdk_sent
    return {
        "offered_spans_per_s": round(rate),
        "sent": sent,
        "sdk_sent": sdk_sent,
        "gave_up": raw_gave_up + sum(r["gave_up"] for r in reports),
        "received": sidecar.spans("accepted") - accepted,
        "refused": sidecar.spans("refused") - refused,
        "achieved_spans_per_s": round(sent / elapsed),
        "clients": 2 * clients,
    }


def touch(sidecar: Sidecar) -> None:
    """One 8-span trace (one SERVER span) for each service the phases sent as."""
    channel, export = open_channel(sidecar.address)
    try:
        for service in (*SERVICES, "overload"):
            send(export, probe_request(service))
    finally:
        channel.close()


def state(sidecar: Sidecar) -> dict[str, Any]:
    """What must survive a restart, read over the API."""
    slo = {
        v["name"]: int(v["budget"]["total"])
        for v in sidecar.get("/performance/slo")["objectives"]
        if "budget" in v
    }
    analysis = sidecar.get("/performance/regression/analysis")
    baselines = sorted(b["name"] for b in analysis.get("baselines", []))
    try:
        capacity = sidecar.get("/performance/capacity/dashboard")
    except (OSError, httpx.HTTPError):
        capacity = {}
    return {"slo": slo, "baselines": baselines, "usage": usage_points(capacity)}


def usage_points(dashboard: Any) -> dict[str, int]:
    """Samples analysed per resource, from the capacity dashboard."""
    resources = dashboard.get("resources", {}) if isinstance(dashboard, dict) else {}
    return {str(name): int(entry.get("samples") or 0) for name, entry in resources.items()}


def kill_and_restart(sidecar: Sidecar, rate: float, clients: int, flush_s: float) -> dict[str, Any]:
    sidecar.post("/performance/regression/baselines", {"name": "soak", "samples_ms": [5.0] * 50})
    with Load(sidecar.address, clients, rate, seed=500) as load:
        time.sleep(flush_s * 3 + 2)
        first = state(sidecar)
        time.sleep(1.0)
        before = state(sidecar)  # read right before the kill
        store = sidecar.get("/performance/metrics").get("store", {})
        sidecar.kill()
        load.close()  # nothing arrives after the kill: the restart shows what was kept
    recovery_s = sidecar.start()
    # per-service (default) objectives come back, with their saved state, on their
    # service's next span: send one trace per service (one more event per objective)
    touch(sidecar)
    after = state(sidecar)
    deadline = time.monotonic() + 15.0  # objectives report a budget once evaluated
    while not set(before["slo"]) <= set(after["slo"]) and time.monotonic() < deadline:
        time.sleep(0.2)
        after = state(sidecar)
    time.sleep(1.5)  # one more evaluation, so every touched objective has counted its event
    after = state(sidecar)
    after["slo"] = {k: v - 1 for k, v in after["slo"].items()}
    events_per_s = sum(before["slo"].values()) - sum(first["slo"].values())
    slo_lost = {k: v - after["slo"].get(k, 0) for k, v in before["slo"].items()}
    lost_events = sum(max(0, v) for v in slo_lost.values())
    return {
        "recovery_s": round(recovery_s, 2),
        "lost": {
            "slo_events": lost_events,
            "slo_seconds_of_traffic": round(lost_events / events_per_s, 2) if events_per_s else 0,
            "baselines": sorted(set(before["baselines"]) - set(after["baselines"])),
            "usage_resources": sorted(set(before["usage"]) - set(after["usage"])),
            "usage_samples": sum(
                max(0, n - after["usage"].get(name, 0)) for name, n in before["usage"].items()
            ),
        },
        "slo_objectives": len(before["slo"]),
        "slo_lost_most": sorted(slo_lost.items(), key=lambda kv: -kv[1])[:3],
        "store_before_kill": store,
        "baselines_kept": after["baselines"],
        "usage_resources_kept": len(after["usage"]),
        "flush_interval_s": flush_s,
    }


# -- report ----------------------------------------------------------------------------


def table(result: dict[str, Any]) -> str:
    s, o, k = result["sustain"], result["overload"], result["restart"]
    rows = [
        ("capacity (spans/s)", result["capacity_spans_per_s"]),
        ("sustained at 80 % (spans/s)", s["sustained_spans_per_s"]),
        ("RSS start / end / max (MiB)",
         f"{s['rss_start_mb']} / {s['rss_end_mb']} / {s['rss_max_mb']}"),
        ("RSS slope, last half (MiB/min)", s["rss_slope_last_half_mb_per_min"]),
        ("overload offered / achieved (spans/s)",
         f"{o['offered_spans_per_s']} / {o['achieved_spans_per_s']}"),
        ("overload sent / received", f"{o['sent']} / {o['received']}"),
        ("overload refused (retried) / gave up", f"{o['refused']} / {o['gave_up']}"),
        ("restart recovery (s)", k["recovery_s"]),
        ("lost at kill -9", json.dumps(k["lost"])),
    ]  # fmt: skip
    return "\n".join(f"{name:<40} {value}" for name, value in rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="sustained phase length")
    parser.add_argument("--capacity", type=float, help="spans/s; skips measuring it")
    parser.add_argument("--capacity-seconds", type=float, default=10.0)
    parser.add_argument("--overload-seconds", type=float, default=20.0)
    parser.add_argument("--flush-interval", type=float, default=2.0, help="store flush, s")
    parser.add_argument("--clients", type=int, default=2, help="client processes per phase")
    parser.add_argument(
        "--queue-items", type=int, help="service.queue.max_items (a small queue sheds sooner)"
    )
    args = parser.parse_args(argv)
    for name in ("seconds", "capacity_seconds", "overload_seconds", "flush_interval"):
        if not 0 < getattr(args, name) <= 3600:
            parser.error(f"--{name.replace('_', '-')} must be in (0, 3600]")
    if args.capacity is not None and args.capacity <= 0:
        parser.error("--capacity must be positive")
    if not 1 <= args.clients <= 16:
        parser.error("--clients must be between 1 and 16")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="otel-perf-soak-") as tmp:
        sidecar = Sidecar(Path(tmp), args.flush_interval, args.queue_items)
        try:
            sidecar.start()
            capacity = args.capacity or measure_capacity(
                sidecar, args.capacity_seconds, args.clients
            )
            sustained = sustain(sidecar, 0.8 * capacity, args.seconds, args.clients)
            overloaded = overload(sidecar, 2 * capacity, args.overload_seconds, args.clients)
            restart = kill_and_restart(sidecar, 0.8 * capacity, args.clients, args.flush_interval)
        except BenchmarkError as exc:
            print(f"soak failed: {exc}", file=sys.stderr)
            return 1
        finally:
            sidecar.stop()
    result = {
        "capacity_spans_per_s": round(capacity),
        "sustain": sustained,
        "overload": overloaded,
        "restart": restart,
        "sustained_spans_per_s": sustained["sustained_spans_per_s"],
        "rss_start_mb": sustained["rss_start_mb"],
        "rss_end_mb": sustained["rss_end_mb"],
        "recovery_s": restart["recovery_s"],
        "lost": restart["lost"],
    }
    print(table(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
