"""Shared fixtures: free loopback ports, configs, a recording test processor."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests' own helpers (support.py)

from ports import free_port  # noqa: E402
from support import RecordingProcessor, register_test_components  # noqa: E402

register_test_components()

# The embedded default serves Prometheus on 127.0.0.1:9464; tests (and the sidecars they
# start, which inherit the environment) take a free port instead, so a test never depends
# on that port being free on the machine, nor on another test's sidecar having let it go.
os.environ.setdefault("OTEL_PERF_PROMETHEUS_ENDPOINT", "127.0.0.1:0")


@pytest.fixture
def ports() -> Iterator[dict[str, int]]:
    yield {"grpc": free_port(), "http": free_port(), "api": free_port()}


@pytest.fixture
def write_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture(autouse=True)
def _reset_recordings() -> None:
    RecordingProcessor.instances.clear()


IN_CI = os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With CI=true a skip (a service that is not installed, say) fails the test instead."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must not happen: {report.longrepr}"
