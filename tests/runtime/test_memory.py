"""glibc arena cap and trim (otel_perf.runtime.memory), each checked in a fresh interpreter."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from otel_perf.runtime import memory

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc malloc only")

# eight threads alive at once, each allocating through malloc (objects past pymalloc's
# 512 bytes): glibc gives each its own arena unless capped; malloc_stats lists them
ARENAS = """
import ctypes, sys, threading
from otel_perf.runtime import memory
capped = memory.cap_arenas() if sys.argv[1] == "cap" else None
barrier = threading.Barrier(8)
held = []
def work():
    held.append([bytes(4096) for _ in range(64)])
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(capped, flush=True)
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str, env: dict[str, str]) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip(), done.stderr.count("Arena ")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    return {**env, **extra}


@glibc
def test_cap_arenas_limits_the_arenas_threads_grow() -> None:
    assert _arenas("cap", _env()) == ("True", memory.ARENA_MAX)
    capped_by_nobody, arenas = _arenas("none", _env())
    assert capped_by_nobody == "None" and arenas > memory.ARENA_MAX


@glibc
def test_an_arena_max_from_the_environment_is_left_alone() -> None:
    assert _arenas("cap", _env(MALLOC_ARENA_MAX="4")) == ("False", 4)


def test_cap_arenas_rejects_fewer_than_one() -> None:
    with pytest.raises(ValueError, match="arenas must be at least 1, got 0"):
        memory.cap_arenas(0)


# 100 MB in 1-KB blocks, every 64th kept so the heap cannot shrink from the top: the
# freed pages stay resident until malloc_trim hands them back
TRIM = """
from otel_perf.runtime import memory
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
blocks = [bytes(1024) for _ in range(100_000)]
kept = blocks[::64]
del blocks
before = rss_mb()
trimmed = memory.trim()
print(trimmed, before - rss_mb(), len(kept))
"""


@glibc
def test_trim_returns_freed_pages_below_live_blocks() -> None:
    done = subprocess.run(
        [sys.executable, "-c", TRIM], capture_output=True, text=True, env=_env(), check=True
    )
    trimmed, released_mb, kept = done.stdout.split()
    assert trimmed == "True" and int(kept) == 1563
    assert float(released_mb) > 50  # of the ~98 MB freed


def test_tune_collector_sets_and_returns_the_thresholds() -> None:
    before = gc.get_threshold()
    previous = memory.tune_collector((1234, 5, 6))
    try:
        assert previous == before and gc.get_threshold() == (1234, 5, 6)
    finally:
        memory.restore_collector(previous)
    assert gc.get_threshold() == before


@pytest.mark.parametrize("thresholds", [(0, 10, 10), (700, -1, 10)])
def test_tune_collector_rejects_thresholds_that_are_not_positive(
    thresholds: tuple[int, int, int],
) -> None:
    with pytest.raises(ValueError, match=r"thresholds must be positive, got \("):
        memory.tune_collector(thresholds)


# a sidecar started in a fresh interpreter: collections tuned and start-up objects frozen
# while it runs, a cycle made after start-up still collected, everything undone at stop
SIDECAR = """
import gc, sys
from otel_perf.runtime import memory
from otel_perf.config import load_config
from otel_perf.sidecar import Sidecar
CONFIG = '''
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0"}
processors:
  spanmetrics: {}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics]}
'''
before = gc.get_threshold()
sidecar = Sidecar(load_config(text=CONFIG), store_path=sys.argv[1])
sidecar.start()
running = gc.get_threshold() == memory.GC_THRESHOLDS
frozen = gc.get_freeze_count()
class Node:
    pass
node = Node()
node.me = node
del node
collected = gc.collect()
sidecar.stop()
print(running, frozen, collected, gc.get_threshold() == before, gc.get_freeze_count())
"""


def test_a_running_sidecar_freezes_start_up_and_still_collects_new_cycles(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIDECAR, str(tmp_path / "store.db")],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
        timeout=120,
    )
    running, frozen, collected, restored, frozen_after = done.stdout.split()
    assert running == "True" and restored == "True"
    assert int(frozen) > 10_000  # modules, config models, grpc, numpy
    assert int(collected) >= 1  # the node, made after start-up
    assert frozen_after == "0"


def test_trim_schedule_trims_once_a_burst_settles_and_on_the_interval() -> None:
    schedule = memory.TrimSchedule(0.0, 0.0, interval_s=30.0, settle_s=2.0, busy_share=0.25)
    assert not schedule.due(1.0, 0.9)  # busy: 0.9 s of CPU in 1 s
    assert not schedule.due(2.0, 1.8)
    assert not schedule.due(3.0, 2.0)  # 0.2 s in 1 s: idle, settled for 1 s
    assert schedule.due(4.0, 2.1)  # settled for 2 s
    schedule.ran(4.0)
    assert not schedule.due(20.0, 2.5)  # once per burst (0.4 s over 16 s is idle)
    assert schedule.due(34.0, 2.6)  # the interval
    schedule.ran(34.0)
    assert not schedule.due(35.0, 3.0)  # an API read: busy
    assert not schedule.due(36.0, 3.1)
    assert schedule.due(37.0, 3.2)


def test_trim_schedule_trims_on_the_interval_while_the_process_stays_busy() -> None:
    schedule = memory.TrimSchedule(0.0, 0.0, interval_s=30.0, settle_s=2.0)
    trims = []
    for second in range(1, 70):
        if schedule.due(float(second), second * 0.5):
            schedule.ran(float(second))
            trims.append(second)
    assert trims == [30, 60]


def test_trim_schedule_rejects_intervals_that_are_not_positive() -> None:
    with pytest.raises(ValueError, match="intervals must be positive, got 0.0 and 2.0"):
        memory.TrimSchedule(0.0, 0.0, interval_s=0.0)
