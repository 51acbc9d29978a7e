"""Two app processes share level 2 in a real Redis; invalidation reaches the other's level 1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

APP = Path(__file__).with_name("cache_app.py")
REPLY_TIMEOUT_S = 15.0


class AppProcess:
    def __init__(self, redis_url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(APP), redis_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        assert self._read() == {"ready": True}

    def call(self, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.reply()

    def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def reply(self) -> dict[str, Any]:
        reply = self._read()
        assert "error" not in reply, reply["error"]
        return reply

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"app process exited with {self.process.poll()}"
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=REPLY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def apps(redis_url: str, redis_client: redis.Redis) -> Iterator[tuple[AppProcess, AppProcess]]:
    first, second = AppProcess(redis_url), AppProcess(redis_url)  # both start at once
    try:
        first.wait_ready()
        second.wait_ready()
        yield first, second
    finally:
        first.close()
        second.close()
    assert first.process.returncode == 0 and second.process.returncode == 0


def wait_until(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_a_value_set_in_one_process_is_read_from_level_2_in_the_other(
    apps: tuple[AppProcess, AppProcess],
) -> None:
    writer, reader = apps
    value = {"sku": "A-1", "text": "x" * 500}  # over the 64-byte threshold: compressed
    writer.call(op="set", key="product:1", value=value, tags=["products"])
    assert reader.call(op="get", key="product:1") == {"value": value, "hit": True, "level": "l2"}
    assert reader.call(op="get", key="product:1")["level"] == "l1"
    assert reader.call(op="stats")["stats"]["compressed_entries"] == 1


def test_a_tag_invalidated_in_one_process_is_gone_from_both_levels_in_the_other(
    apps: tuple[AppProcess, AppProcess], redis_client: redis.Redis
) -> None:
    writer, reader = apps
    writer.call(op="set", key="product:1", value=1, tags=["products"])
    writer.call(op="set", key="product:2", value=2, tags=["products"])
    writer.call(op="set", key="user:1", value=3, tags=["users"])
    for key in ("product:1", "product:2", "user:1"):
        assert reader.call(op="get", key=key)["hit"] is True  # now in the reader's level 1
    assert reader.call(op="stats")["stats"]["l1_entries"] == 3

    assert writer.call(op="invalidate_tag", tag="products") == {"removed": 2}

    wait_until(lambda: reader.call(op="stats")["stats"]["l1_entries"] == 1)
    assert reader.call(op="get", key="product:1") == {"value": None, "hit": False, "level": None}
    assert reader.call(op="get", key="user:1")["level"] == "l1"
    assert not redis_client.exists("otel-perf:cache:shared:k:product:1")
    assert not redis_client.exists("otel-perf:cache:shared:t:products")


def test_a_value_overwritten_in_one_process_replaces_the_others_level_1_copy(
    apps: tuple[AppProcess, AppProcess],
) -> None:
    writer, reader = apps
    writer.call(op="set", key="price:1", value=10)
    assert reader.call(op="get", key="price:1")["value"] == 10
    writer.call(op="set", key="price:1", value=12)
    wait_until(lambda: reader.call(op="get", key="price:1")["value"] == 12)


def test_concurrent_misses_in_two_processes_run_one_loader(
    apps: tuple[AppProcess, AppProcess], redis_client: redis.Redis
) -> None:
    first, second = apps
    first.send(op="stampede", key="hot")
    second.send(op="stampede", key="hot")
    assert first.reply() == {"values": ["loaded-1"]}
    assert second.reply() == {"values": ["loaded-1"]}
    assert redis_client.get("test:loads") == b"1"
    loads = [app.call(op="stats")["stats"]["loads"] for app in apps]
    assert sorted(loads) == [0, 1]
