"""The shared sender: bounded queue, one worker in order, retries with backoff, shutdown
deadline; and the aggregates exporter's sender on it, over real HTTP on loopback."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from otel_perf.component.sender import (
    Backoff,
    QueueSender,
    Retryable,
    SenderSettings,
    send_with_retries,
)
from otel_perf.exporters.aggregates.config import AggregatesExporterConfig
from otel_perf.exporters.aggregates.sender import Sender


def test_backoff_doubles_up_to_its_cap_and_jitter_stays_in_its_band() -> None:
    assert [Backoff(0.2, 1.0).delay_s(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    rng = random.Random(3)
    waits = [Backoff(1.0, 8.0, jitter=0.5).delay_s(3, rng) for _ in range(200)]
    assert all(2.0 <= w <= 4.0 for w in waits) and len(set(waits)) > 100
    again = random.Random(3)
    assert waits[:5] == [Backoff(1.0, 8.0, jitter=0.5).delay_s(3, again) for _ in range(5)]


@pytest.mark.parametrize(
    ("initial_s", "max_s", "jitter", "message"),
    [(2.0, 1.0, 0.0, "initial (2.0) <= max (1.0)"), (1.0, 2.0, 1.5, "between 0 and 1, got 1.5")],
)
def test_a_bad_backoff_says_what_is_wrong(
    initial_s: float, max_s: float, jitter: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Backoff(initial_s, max_s, jitter)


def test_items_go_out_in_order_and_retryable_failures_are_retried_with_backoff() -> None:
    sent: list[int] = []
    waits: list[float] = []
    failures = {2: 2}  # item 2 fails twice, then goes through

    def send(item: int) -> None:
        if failures.get(item, 0):
            failures[item] -= 1
            raise Retryable("503")
        sent.append(item)

    settings = SenderSettings("test", max_queue=10, max_attempts=3, backoff=Backoff(0.5, 4.0))
    sender = QueueSender[int](settings, send, sleep=waits.append)
    sender.start()
    for item in range(5):
        sender.offer(item)
    assert sender.flush(timeout_s=60)
    sender.close(timeout_s=60)
    assert sent == [0, 1, 2, 3, 4]
    assert waits == [0.5, 1.0]
    assert (sender.sent, sender.retries, sender.failed, sender.dropped) == (5, 2, 0, 0)


def test_a_non_retryable_failure_and_exhausted_retries_fail_the_item_once() -> None:
    def send(item: str) -> None:
        raise (Retryable if item == "flaky" else ValueError)(item)

    settings = SenderSettings("test", max_queue=10, max_attempts=2, backoff=Backoff(0.1, 0.1))
    sender = QueueSender[str](settings, send, sleep=lambda s: None)
    sender.start()
    sender.offer("refused")
    sender.offer("flaky")
    assert sender.flush(timeout_s=60)
    sender.close(timeout_s=60)
    assert (sender.sent, sender.retries, sender.failed) == (0, 1, 2)


@pytest.mark.parametrize(("drop", "left"), [("oldest", [2, 3]), ("newest", [0, 1])])
def test_past_max_queue_one_item_is_dropped_and_counted(drop: str, left: list[int]) -> None:
    drops: list[int] = []
    sent: list[int] = []
    settings = SenderSettings("test", max_queue=2, drop=drop)  # type: ignore[arg-type]
    sender = QueueSender[int](settings, sent.append, on_drop=lambda: drops.append(1))
    offered = [sender.offer(item) for item in range(4)]  # not started: nothing leaves yet
    assert offered == ([True] * 4 if drop == "oldest" else [True, True, False, False])
    sender.start()
    assert sender.flush(timeout_s=60)
    sender.close(timeout_s=60)
    assert sent == left and sender.dropped == 2 and len(drops) == 2


def test_close_waits_for_the_queue_only_until_its_deadline() -> None:
    release = threading.Event()
    started = threading.Event()

    def send(item: int) -> None:
        started.set()
        release.wait()

    sender = QueueSender[int](SenderSettings("test", max_queue=4), send)
    sender.start()
    sender.offer(1)
    sender.offer(2)
    assert started.wait(60)
    assert sender.flush(timeout_s=0.01) is False  # the first send is still blocked
    sender.close(timeout_s=0.01)
    release.set()
    sender.close(timeout_s=60)  # twice is safe; the worker ends without sending item 2
    assert sender.sent == 1


def test_a_ticking_sender_ticks_once_the_queue_is_empty_when_flushed_and_on_close() -> None:
    """The tick sees what every queued item left (one batch); a flush waits for a tick; on
    close what the tick sends gets one attempt, the backoff before another cut short."""
    pending: list[int] = []
    batches: list[list[int]] = []
    down = threading.Event()
    attempts: list[list[int]] = []

    def post() -> None:
        attempts.append(list(pending))
        if down.is_set():
            raise Retryable("down")

    def tick() -> float:
        try:
            sender.retry(post, lambda exc: None)
        except Retryable:
            return 3600.0  # kept for the next tick
        batches.append(list(pending))
        pending.clear()
        return 3600.0  # not by time here: only when items went out or a flush asks

    settings = SenderSettings("tick", 8, max_attempts=5, backoff=Backoff(3600.0, 3600.0))
    sender = QueueSender[int](settings, pending.append, tick=tick)
    for item in (1, 2, 3):
        sender.offer(item)  # queued before the worker starts: all three before the tick
    sender.start()
    assert sender.flush(timeout_s=60)
    assert [b for b in batches if b] == [[1, 2, 3]]
    ticks = len(batches)
    assert sender.flush(timeout_s=60) and len(batches) == ticks + 1  # a flush ticks
    down.set()
    sender.offer(4)
    assert sender.flush(timeout_s=0.05) is False  # the tick is backing off for an hour
    sender.close(timeout_s=0.05)  # the deadline passes: the backoff is cut short
    sender.close(timeout_s=60)  # twice is safe; waits for the worker's last tick
    assert [a for a in attempts if a == [4]] == [[4], [4]]  # one in the flush, one on close
    assert [b for b in batches if b] == [[1, 2, 3]] and pending == [4]


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP metrics endpoint that answers the statuses it is given, in turn."""

    statuses: list[int] = []
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.bodies.append(body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    _Collector.statuses, _Collector.bodies = [503, 429], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_aggregates_sender_retries_503_and_429_then_delivers_over_http(
    collector: ThreadingHTTPServer,
) -> None:
    port = collector.server_address[1]
    config = AggregatesExporterConfig(
        endpoint=f"http://127.0.0.1:{port}",
        protocol="http/protobuf",
        instance="trace-1",
        backoff=0.25,
        max_backoff=2.0,
    )
    waits: list[float] = []
    sender = Sender(config, sleep=waits.append)
    sender.start()
    request = ExportMetricsServiceRequest()
    request.resource_metrics.add().resource.attributes.add(key="k").value.string_value = "v"
    sender.offer(request)
    assert sender.flush(timeout_s=60)
    sender.close(timeout_s=60)
    assert (sender.sent, sender.retries, sender.failed) == (1, 2, 0)
    assert waits == [0.25, 0.5]
    assert _Collector.bodies == [request.SerializeToString()]


def test_the_aggregates_sender_counts_a_refused_request_without_retrying(
    collector: ThreadingHTTPServer,
) -> None:
    _Collector.statuses = [400]
    config = AggregatesExporterConfig(
        endpoint=f"http://127.0.0.1:{collector.server_address[1]}",
        protocol="http/protobuf",
        instance="trace-1",
    )
    sender = Sender(config, sleep=lambda s: None)
    sender.start()
    sender.offer(ExportMetricsServiceRequest())
    assert sender.flush(timeout_s=60)
    sender.close(timeout_s=60)
    assert (sender.sent, sender.retries, sender.failed) == (0, 0, 1)


def test_send_with_retries_gives_up_without_another_attempt_once_stopped() -> None:
    stop = threading.Event()
    attempts: list[float] = []

    def send() -> None:
        attempts.append(1)
        raise Retryable("503")

    def sleep(delay_s: float) -> None:
        stop.set()  # a shutdown arrives during the wait

    with pytest.raises(Retryable) as raised:
        send_with_retries(send, 5, Backoff(1.0, 1.0), sleep, stop.is_set)
    assert len(attempts) == 1 and raised.value.attempts == 1
    assert send_with_retries(lambda: None, 5, Backoff(1.0, 1.0), sleep, stop.is_set) == 1
