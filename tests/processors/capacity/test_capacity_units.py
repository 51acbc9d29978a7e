"""Right-sizing per kind of resource: a utilization series is sized as a utilization (0..1),
a byte series in bytes, a CPU-time counter in cores; every surface says which (the API's
``unit``/``quantity``/``text``, the CLI's table, the finding and its recommendation)."""

from __future__ import annotations

import doctest
import io
from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console

from otel_perf.component import Context
from otel_perf.findings import Kind
from otel_perf.model import MetricBatch, MetricPoint, MetricType, Resource
from otel_perf.processors.capacity.config import CapacityConfig
from otel_perf.processors.capacity.processor import CapacityProcessor
from otel_perf.processors.capacity.report import print_dashboard
from otel_perf.recommend.ranking import Inputs, recommend
from otel_perf.store import Store

NS = 1_000_000_000
T0 = 1_700_000_000
STEP_S = 300
STEPS = 2 * 288  # two days of 5-minute points
MIB = 2**20
UTILIZATION = "api/system.memory.utilization"
BYTES = "api/process.memory.usage"
CPU_TIME = "api/process.cpu.time"
BUSY_HOST = "busy/system.cpu.utilization"


GAUGE = MetricPoint(Resource({}), "", "1", MetricType.GAUGE, {}, 0)


def gauge(name: str, value: float, t: int, service: str = "api", **attrs: str) -> MetricPoint:
    resource = Resource({"service.name": service})
    return replace(
        GAUGE, resource=resource, name=name, attributes=attrs, time_ns=t * NS, value=value
    )


def cpu_seconds(total: float, t: int, name: str = "process.cpu.time", **attrs: str) -> MetricPoint:
    """A cumulative counter of CPU seconds (unit ``s``), ``process.cpu.time`` by default."""
    return MetricPoint(
        resource=Resource({"service.name": "api"}),
        name=name,
        unit="s",
        type=MetricType.SUM,
        attributes=attrs or {"cpu.mode": "user"},
        time_ns=t * NS,
        start_ns=T0 * NS,
        value=total,
        is_monotonic=True,
        temporality=2,
    )


def fed(**settings: object) -> CapacityProcessor:
    """Two days: memory at ~60 % of the host, ~300 MiB resident, ~0.5 cores of CPU time,
    and a second host whose CPU runs at ~95 %."""
    processor = CapacityProcessor(
        Context("capacity", Store(":memory:")), CapacityConfig.model_validate(settings)
    )
    rng = np.random.default_rng(7)
    cpu_total = 0.0
    for i in range(STEPS):
        t = T0 + i * STEP_S
        cores = 0.5 + rng.normal(0, 0.02)
        cpu_total += cores * STEP_S
        used = 0.6 + rng.normal(0, 0.02)
        batch = [
            gauge("system.memory.utilization", used, t, state="used"),
            gauge("system.memory.utilization", 1 - used, t, state="free"),
            gauge("process.memory.usage", (300 + rng.normal(0, 5)) * MIB, t),
            cpu_seconds(cpu_total, t),
            # the host: two CPUs, each busy half the time, and their idle seconds
            *(
                cpu_seconds(i * STEP_S / 2, t, "system.cpu.time", cpu=cpu, state=state)
                for cpu in ("0", "1")
                for state in ("user", "idle")
            ),
            gauge("system.cpu.utilization", 0.95 + rng.normal(0, 0.01), t, "busy", cpu="0"),
        ]
        processor.consume_metrics(MetricBatch(batch))
    processor.tick((T0 + STEPS * STEP_S) * NS)
    return processor


def test_each_kind_of_series_is_sized_in_its_own_unit() -> None:
    resources = fed().views.dashboard()["resources"]
    share = resources[UTILIZATION]["rightsizing"]
    assert (share["unit"], share["quantity"]) == ("1", "utilization")
    assert 0.6 * 1.15 < share["target"] < 0.75 and 0 <= share["lower"] <= share["upper"] <= 1
    assert share["text"]["target"].endswith(" %") and share["absolute"] is None  # no capacity

    resident = resources[BYTES]["rightsizing"]
    assert (resident["unit"], resident["quantity"]) == ("By", "bytes")
    assert 300 * MIB * 1.15 < resident["target"] < 320 * MIB * 1.15  # memory: sized on peaks
    assert resident["text"]["target"].endswith(" MiB") and "absolute" not in resident

    cores = resources[CPU_TIME]["rightsizing"]  # the counter's rate: CPU-seconds per second
    assert resources[CPU_TIME]["unit"] == "{cpu}" and resources[CPU_TIME]["kind"] == "cpu"
    assert (cores["unit"], cores["quantity"]) == ("{cpu}", "cores")
    assert 0.5 * 1.15 < cores["target"] < 0.55 * 1.15
    assert cores["text"]["target"].endswith("m cores")

    host = resources["api/system.cpu.time"]  # 2 CPUs half busy: 1 core, not 50 % or 200 %
    assert host["unit"] == "{cpu}" and host["current"] == pytest.approx(1.0)
    assert host["rightsizing"]["text"]["target"] == "1.15 cores"

    busy = resources[BUSY_HOST]["rightsizing"]  # p90 × 1.15 > 1: said, not shown as 109 %
    assert busy["saturated"] and busy["target"] == 1.0 and busy["upper"] == 1.0


def test_a_known_capacity_gives_cores_and_bytes_beside_the_utilization() -> None:
    processor = fed(
        capacity={"api": {"memory": "1Gi"}},
        requests={"api": {"memory": "2Gi", "cpu": "2"}},
    )
    resources = processor.views.dashboard()["resources"]
    share = resources[UTILIZATION]["rightsizing"]
    assert share["unit"] == "1" and share["target"] < 1  # still a utilization
    assert share["request"] == 2.0  # the request as a share of the capacity
    absolute = share["absolute"]
    assert absolute["unit"] == "By" and absolute["request"] == 2 * 2**30
    assert absolute["target"] == pytest.approx(share["target"] * 2**30)
    assert absolute["status"] == share["status"] == "over"

    found = processor.snapshot()["current_findings"]
    sized = {f["attributes"]["resource"]: f for f in found if f["kind"] == Kind.RECOMMENDATION}
    memory = sized[UTILIZATION]
    assert memory["attributes"]["unit"] == "By" and "request 2.0 GiB" in memory["summary"]
    assert sized[CPU_TIME]["attributes"]["unit"] == "{cpu}"  # 2 cores requested, ~0.6 used
    assert "request 2 cores, recommended 6" in sized[CPU_TIME]["summary"]
    actions = {
        r["subject"]: r["action"] for r in recommend(Inputs(processor_snapshots(processor), []))
    }
    assert actions[f"{UTILIZATION} right-size"].startswith(
        f"Right-size {UTILIZATION}: request 2.0 GiB → "
    )
    assert actions[f"{UTILIZATION} right-size"].endswith(" MiB")


def processor_snapshots(processor: CapacityProcessor) -> dict[str, dict[str, dict[str, object]]]:
    return {"capacity": {"capacity": processor.snapshot()}}


def test_the_cli_table_prints_units() -> None:
    out = io.StringIO()
    data = fed(capacity={"api": {"memory": "1Gi"}}).views.dashboard()
    print_dashboard(Console(file=out, width=250, color_system=None), data)
    rows = {line.split("│")[1].strip(): line for line in out.getvalue().splitlines() if "│" in line}
    assert " %" in rows[UTILIZATION] and "MiB" in rows[UTILIZATION]  # 60 % (≈ 700 MiB)
    assert "MiB" in rows[BYTES] and "e+08" not in rows[BYTES]
    assert "m cores" in rows[CPU_TIME]


def test_the_unit_formats_hold() -> None:
    from otel_perf.processors.capacity import units

    failed, tried = doctest.testmod(units)
    assert tried > 0 and failed == 0
