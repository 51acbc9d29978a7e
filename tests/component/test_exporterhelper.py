"""The exporter shell: the running part is built once, closed once, never rebuilt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_perf.component import Context
from otel_perf.component.exporterhelper import LifecycleExporter
from otel_perf.store import Store
from otel_perf.telemetry import Telemetry


class Recording(LifecycleExporter[list[str]]):
    """Its running part is a list the shell must build and close exactly once."""

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.built: list[list[str]] = []
        self.closed: list[list[str]] = []

    def _build(self) -> list[str]:
        running = [f"run-{len(self.built)}"]
        self.built.append(running)
        return running

    def _close(self, running: list[str]) -> None:
        self.closed.append(running)


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store(":memory:", 10)
    yield opened
    opened.close()


@pytest.fixture
def exporter(store: Store) -> Recording:
    return Recording(Context("recording/a", store))


def test_start_builds_once_and_shutdown_closes_that_part(exporter: Recording) -> None:
    exporter.start()
    exporter.start()
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.built == [["run-0"]]
    assert exporter.closed == [["run-0"]]


def test_shutdown_without_start_closes_nothing_and_start_after_it_builds_nothing(
    exporter: Recording,
) -> None:
    exporter.shutdown()
    exporter.start()
    assert exporter.built == [] and exporter.closed == []


def test_count_error_counts_under_the_exporter_id_once_telemetry_is_bound(
    exporter: Recording,
) -> None:
    exporter.count_error()  # no telemetry yet: nothing to count into, no error
    telemetry = Telemetry()
    exporter.bind_telemetry(telemetry)
    exporter.count_error()
    exporter.count_error(3)
    assert telemetry.export_errors["recording/a"] == 4


def test_a_shell_without_build_says_so(store: Store) -> None:
    bare: LifecycleExporter[int] = LifecycleExporter(Context("bare", store))
    with pytest.raises(NotImplementedError):
        bare.start()
