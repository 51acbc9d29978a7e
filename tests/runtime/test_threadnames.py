"""Python thread names reach the operating system (what per-thread tools show)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from otel_perf.runtime.threadnames import name_native_thread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names through /proc")
def test_a_thread_names_itself_for_the_system() -> None:
    seen: list[str] = []

    def run() -> None:
        name_native_thread()
        comm = Path(f"/proc/self/task/{threading.get_native_id()}/comm")
        seen.append(comm.read_text().strip())

    worker = threading.Thread(target=run, name="otel-perf-pipeline-long-name")
    worker.start()
    worker.join()
    assert seen == ["otel-perf-pipel"]  # Linux keeps 15 bytes
