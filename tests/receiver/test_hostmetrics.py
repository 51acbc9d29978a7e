"""The hostmetrics receiver: cgroup v1/v2 files written by the test, the real host's figures
against a CPU-burning child process, the config rules, and a running Sidecar delivering
host metrics into its pipeline."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from receiver_support import FakeSink
from support import RecordingProcessor

from otel_perf.config import ConfigError, load_config
from otel_perf.config.models import HostMetricsReceiverConfig
from otel_perf.model import MetricBatch, MetricPoint, MetricType
from otel_perf.receiver._cgroup import (
    CgroupError,
    CgroupReader,
    parse_cfs,
    parse_cpu_max,
    parse_cpu_stat_usage_ns,
    parse_flat_keyed,
    parse_membership,
    parse_memory_limit,
)
from otel_perf.receiver.hostmetrics import SCOPE_KEY, HostMetricsReceiver
from otel_perf.sidecar import Sidecar

CONTAINER = "3f2a" + "0" * 56 + "beef"  # 64 hex digits, as docker and containerd write them
GiB = 1024**3
S = 1_000_000_000


# -- pure parsers --------------------------------------------------------------------------
def test_membership_maps_each_controller_and_the_v2_hierarchy() -> None:
    text = f"12:memory:/docker/{CONTAINER}\n3:cpu,cpuacct:/docker/{CONTAINER}\n0::/kubepods/x\n"
    assert parse_membership(text) == {
        "memory": f"/docker/{CONTAINER}",
        "cpu": f"/docker/{CONTAINER}",
        "cpuacct": f"/docker/{CONTAINER}",
        "": "/kubepods/x",
    }


def test_cpu_quota_files() -> None:
    assert parse_cpu_max("50000 100000\n") == 0.5
    assert parse_cpu_max("max 100000\n") is None
    assert parse_cfs(200000, 100000) == 2.0
    assert parse_cfs(-1, 100000) is None
    with pytest.raises(CgroupError, match=r'/x/cpu.max: expected "<quota\|max> <period>"'):
        parse_cpu_max("lots", "/x/cpu.max")


def test_cpu_stat_and_flat_keyed_files() -> None:
    assert (
        parse_cpu_stat_usage_ns("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n") == 1_500_000
    )
    with pytest.raises(CgroupError, match="cpu.stat: no usage_usec line"):
        parse_cpu_stat_usage_ns("user_usec 1\n")
    with pytest.raises(CgroupError, match=r'memory.stat:2: expected "key value", got \'anon\''):
        parse_flat_keyed("file 1\nanon\n", "memory.stat")


def test_memory_limit_max_and_v1_unlimited_mean_no_limit() -> None:
    assert parse_memory_limit("max\n", 16 * GiB, "memory.max") is None
    assert parse_memory_limit("9223372036854771712\n", 16 * GiB, "memory.limit_in_bytes") is None
    assert parse_memory_limit(f"{GiB}\n", 16 * GiB, "memory.max") == GiB


# -- cgroup trees written by the test -------------------------------------------------------
def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def v2_tree(tmp_path: Path, cpu_max: str = "50000 100000", memory_max: str = str(GiB)) -> Path:
    """A v2 mount with this process in /kubepods/pod1/<container>, and its /proc/self."""
    own = f"kubepods/pod1/{CONTAINER}"
    write_tree(
        tmp_path / "cgroup",
        {
            "cgroup.controllers": "cpu memory io\n",
            "cpu.stat": "usage_usec 999999999\n",  # the root's: must not be read
            f"{own}/cpu.max": f"{cpu_max}\n",
            f"{own}/cpu.stat": "usage_usec 10000000\nuser_usec 8000000\nsystem_usec 2000000\n",
            f"{own}/memory.current": f"{512 * 1024**2}\n",
            f"{own}/memory.max": f"{memory_max}\n",
            f"{own}/memory.stat": f"anon 1\ninactive_file {128 * 1024**2}\n",
        },
    )
    write_tree(tmp_path / "proc", {"cgroup": f"0::/{own}\n", "mountinfo": ""})
    return tmp_path


def v1_tree(tmp_path: Path, quota: str = "200000", limit: str = str(2 * GiB)) -> Path:
    """A v1 mount (cpu and cpuacct together, as docker has it) with this process in a container."""
    own = f"docker/{CONTAINER}"
    write_tree(
        tmp_path / "cgroup",
        {
            f"cpu,cpuacct/{own}/cpu.cfs_quota_us": f"{quota}\n",
            f"cpu,cpuacct/{own}/cpu.cfs_period_us": "100000\n",
            f"cpu,cpuacct/{own}/cpuacct.usage": f"{5 * S}\n",
            f"memory/{own}/memory.usage_in_bytes": f"{GiB}\n",
            f"memory/{own}/memory.limit_in_bytes": f"{limit}\n",
            f"memory/{own}/memory.stat": f"cache 5\ntotal_inactive_file {256 * 1024**2}\n",
        },
    )
    proc = f"12:memory:/{own}\n4:cpu,cpuacct:/{own}\n1:name=systemd:/{own}\n"
    write_tree(tmp_path / "proc", {"cgroup": proc})
    return tmp_path


def receiver_for(
    tree: Path, sink: FakeSink | None = None, scrapers: list[Any] | None = None, **kwargs: Any
) -> HostMetricsReceiver:
    config = HostMetricsReceiverConfig(
        cgroup_root=str(tree / "cgroup"),
        scrapers=scrapers or ["cpu", "memory"],
        service_name="checkout-pod",
    )
    return HostMetricsReceiver(config, sink or FakeSink(), proc_self=tree / "proc", **kwargs)


def points(batch: MetricBatch, name: str) -> list[MetricPoint]:
    return [p for p in batch if p.name == name]


def one(batch: MetricBatch, name: str, **attributes: Any) -> float:
    found = [
        p
        for p in points(batch, name)
        if all(p.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, f"{name} {attributes}: {found}"
    assert found[0].value is not None
    return found[0].value


def test_v2_reader_reads_the_process_own_cgroup(tmp_path: Path) -> None:
    tree = v2_tree(tmp_path)
    reader = CgroupReader(tree / "cgroup", tree / "proc", host_memory_bytes=16 * GiB)
    stats = reader.read()
    assert stats is not None and stats.version == 2 and stats.limited
    assert stats.cpu_usage_ns == 10 * S
    assert stats.cpu_limit_cores == 0.5
    assert stats.memory_usage_bytes == 512 * 1024**2
    assert stats.memory_inactive_file_bytes == 128 * 1024**2
    assert stats.memory_limit_bytes == GiB
    assert reader.container_id() == CONTAINER


def test_v1_reader_with_combined_cpu_cpuacct_mount(tmp_path: Path) -> None:
    tree = v1_tree(tmp_path)
    stats = CgroupReader(tree / "cgroup", tree / "proc", host_memory_bytes=16 * GiB).read()
    assert stats is not None and stats.version == 1
    assert (stats.cpu_usage_ns, stats.cpu_limit_cores) == (5 * S, 2.0)
    assert (stats.memory_usage_bytes, stats.memory_limit_bytes) == (GiB, 2 * GiB)
    assert stats.memory_inactive_file_bytes == 256 * 1024**2


def test_a_malformed_v1_file_is_named_with_its_path(tmp_path: Path) -> None:
    tree = v1_tree(tmp_path, quota="ten")
    with pytest.raises(CgroupError) as caught:
        CgroupReader(tree / "cgroup", tree / "proc").read()
    quota = tree / "cgroup" / f"cpu,cpuacct/docker/{CONTAINER}/cpu.cfs_quota_us"
    assert str(caught.value) == f"{quota}: expected an integer, got 'ten'"


def test_no_cgroup_mount_reads_as_none(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    reader = CgroupReader(tmp_path / "empty", tmp_path / "proc")
    assert reader.version is None and reader.read() is None and reader.container_id() is None


def test_container_figures_are_against_the_cgroup_limits(tmp_path: Path) -> None:
    """Quota 0.5 cores; the cgroup uses 0.25 s of CPU over 1 s: half its quota."""
    tree = v2_tree(tmp_path)
    receiver = receiver_for(tree)
    first = receiver.sample(100 * S)
    assert points(first, "system.cpu.utilization") == []  # no delta yet
    stat = tree / "cgroup" / f"kubepods/pod1/{CONTAINER}" / "cpu.stat"
    stat.write_text("usage_usec 10250000\n")
    batch = receiver.sample(101 * S)

    assert one(batch, "system.cpu.utilization") == pytest.approx(0.5)
    assert one(batch, "container.cpu.time") == pytest.approx(10.25)
    assert one(batch, "system.cpu.logical.count") == 0.5
    assert points(batch, "system.cpu.time") == []  # the node's CPU is not the container's
    assert one(batch, "system.memory.limit") == GiB
    assert one(batch, "system.memory.usage", state="used") == 384 * 1024**2  # working set
    assert one(batch, "system.memory.usage", state="cached") == 128 * 1024**2
    assert one(batch, "system.memory.usage", state="free") == 512 * 1024**2
    assert one(batch, "system.memory.utilization", state="used") == pytest.approx(0.375)
    resource = batch.points[0].resource
    assert resource.attributes[SCOPE_KEY] == "container"
    assert resource.attributes["container.id"] == CONTAINER
    assert resource.service_name == "checkout-pod"
    assert all(p.time_ns == 101 * S for p in batch)


def test_v1_container_cpu_against_a_two_core_quota(tmp_path: Path) -> None:
    tree = v1_tree(tmp_path)
    receiver = receiver_for(tree)
    receiver.sample(10 * S)
    usage = tree / "cgroup" / f"cpu,cpuacct/docker/{CONTAINER}" / "cpuacct.usage"
    usage.write_text(f"{5 * S + 3 * S}\n")  # 3 s of CPU in 2 s: 75 % of 2 cores
    batch = receiver.sample(12 * S)
    assert one(batch, "system.cpu.utilization") == pytest.approx(0.75)
    assert one(batch, "system.memory.limit") == 2 * GiB
    assert one(batch, "system.memory.utilization", state="used") == pytest.approx(0.375)


def test_cpu_counter_reset_skips_utilization_once(tmp_path: Path) -> None:
    tree = v1_tree(tmp_path)
    receiver = receiver_for(tree)
    receiver.sample(10 * S)
    usage = tree / "cgroup" / f"cpu,cpuacct/docker/{CONTAINER}" / "cpuacct.usage"
    usage.write_text("1000\n")  # the container restarted
    assert points(receiver.sample(11 * S), "system.cpu.utilization") == []


def next_cpu_tick(timeout: float = 5.0) -> None:
    """Wait until the kernel's CPU time counters move (they advance in clock ticks)."""
    before = sum(psutil.cpu_times())
    deadline = time.monotonic() + timeout
    while sum(psutil.cpu_times()) == before:
        assert time.monotonic() < deadline, "CPU time counters did not move"
        time.sleep(0.01)


def test_without_limits_the_host_figures_are_reported(tmp_path: Path) -> None:
    tree = v1_tree(tmp_path, quota="-1", limit="9223372036854771712")
    receiver = receiver_for(tree)
    receiver.sample(time.time_ns())
    next_cpu_tick()
    batch = receiver.sample(time.time_ns())
    assert batch.points[0].resource.attributes[SCOPE_KEY] == "host"
    assert one(batch, "system.memory.limit") == psutil.virtual_memory().total
    utilization = one(batch, "system.cpu.utilization")
    assert 0.0 <= utilization <= 1.0
    states = {p.attributes["state"] for p in points(batch, "system.cpu.time")}
    assert {"user", "system", "idle"} <= states
    assert points(batch, "container.cpu.time") == []


def test_a_malformed_cgroup_file_is_counted_and_host_figures_used(tmp_path: Path) -> None:
    tree = v2_tree(tmp_path, cpu_max="half")
    sink = FakeSink()
    receiver = receiver_for(tree, sink)
    batch = receiver.sample(5 * S)
    assert batch.points[0].resource.attributes[SCOPE_KEY] == "host"
    assert one(batch, "system.memory.limit") == psutil.virtual_memory().total
    assert sink.telemetry.component_errors["hostmetrics"] == 1
    assert receiver.errors == 1


# -- the real host --------------------------------------------------------------------------
def test_every_scraper_emits_collector_names_and_kinds(tmp_path: Path) -> None:
    config = HostMetricsReceiverConfig(filesystem_path=str(tmp_path))
    receiver = HostMetricsReceiver(config, FakeSink())
    receiver.sample(time.time_ns())
    next_cpu_tick()
    batch = receiver.sample(time.time_ns())
    kinds = {p.name: (p.type, p.unit, p.is_monotonic) for p in batch}
    assert kinds["system.cpu.utilization"] == (MetricType.GAUGE, "1", False)
    assert kinds["system.memory.usage"] == (MetricType.SUM, "By", False)
    assert kinds["system.memory.utilization"] == (MetricType.GAUGE, "1", False)
    assert kinds["system.disk.io"] == (MetricType.SUM, "By", True)
    assert kinds["system.network.io"] == (MetricType.SUM, "By", True)
    assert kinds["system.filesystem.usage"] == (MetricType.SUM, "By", False)
    assert kinds["system.filesystem.utilization"] == (MetricType.GAUGE, "1", False)
    assert kinds["process.cpu.utilization"] == (MetricType.GAUGE, "1", False)
    assert kinds["process.memory.usage"] == (MetricType.SUM, "By", False)
    assert all(p.temporality == 2 for p in batch if p.type == MetricType.SUM)
    assert {p.attributes["direction"] for p in points(batch, "system.network.io")} == {
        "receive",
        "transmit",
    }
    rss = one(batch, "process.memory.usage")
    assert rss == pytest.approx(psutil.Process().memory_info().rss, rel=0.5)
    used = one(batch, "system.filesystem.usage", state="used")
    assert used == pytest.approx(psutil.disk_usage(str(tmp_path)).used, rel=0.05)
    resource = batch.points[0].resource.attributes
    assert resource["service.name"] == "host" and resource["host.name"]


def test_scrapers_subset_and_device_bound_is_counted() -> None:
    config = HostMetricsReceiverConfig(scrapers=["network"], max_devices=1)
    receiver = HostMetricsReceiver(config, FakeSink())
    batch = receiver.sample(time.time_ns())
    assert {p.name for p in batch} == {"system.network.io"}
    assert len({p.attributes["device"] for p in batch}) == 1
    nics = len(psutil.net_io_counters(pernic=True))
    assert nics > 1, "this test needs two network interfaces (lo and one more)"
    assert receiver.overflowed_devices == nics - 1


@pytest.fixture
def burner() -> Iterator[psutil.Process]:
    """A child process spinning on one CPU until the test ends."""
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield psutil.Process(child.pid)
    finally:
        child.kill()
        child.wait()


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def burn(process: psutil.Process, seconds: float, timeout: float = 30.0) -> float:
    """Wait until ``process`` has used ``seconds`` more CPU; returns what it used."""
    start = cpu_seconds(process)
    deadline = time.monotonic() + timeout
    while cpu_seconds(process) - start < seconds:
        assert time.monotonic() < deadline, "the burner got no CPU time"
        time.sleep(0.02)
    return cpu_seconds(process) - start


def test_cpu_figures_follow_a_cpu_burning_child(burner: psutil.Process) -> None:
    """The child's CPU over the window bounds the host, cgroup and process figures from below.

    Wall time is measured outside the two samples and child CPU inside them, so the bound is
    conservative whatever else the shared machine is doing.
    """
    config = HostMetricsReceiverConfig(scrapers=["cpu", "process"])
    receiver = HostMetricsReceiver(config, FakeSink(), pid=burner.pid)
    cgroup = CgroupReader("/sys/fs/cgroup")  # the real one: the child is inside ours
    before = cgroup.read()
    t0 = time.monotonic()
    receiver.sample(time.time_ns())
    used_s = burn(burner, 0.5)
    batch = receiver.sample(time.time_ns())
    elapsed_s = time.monotonic() - t0
    after = cgroup.read()

    host_cpus = psutil.cpu_count() or 1
    assert one(batch, "system.cpu.utilization") >= used_s / (elapsed_s * host_cpus) * 0.8
    child_share = used_s / (elapsed_s * receiver.cpu_count)
    assert one(batch, "process.cpu.utilization", **{"process.pid": burner.pid}) >= child_share * 0.8
    assert before is not None and after is not None, "no cgroup hierarchy at /sys/fs/cgroup"
    assert before.cpu_usage_ns is not None and after.cpu_usage_ns is not None
    assert (after.cpu_usage_ns - before.cpu_usage_ns) / S >= used_s * 0.8


# -- config ---------------------------------------------------------------------------------
def test_default_config_samples_host_metrics_into_the_metrics_pipeline() -> None:
    config = load_config()
    settings = config.receivers["hostmetrics"]
    assert isinstance(settings, HostMetricsReceiverConfig)
    assert settings.collection_interval == 10.0
    assert settings.scrapers == ["cpu", "memory", "disk", "filesystem", "network", "process"]
    assert "hostmetrics" in config.service.pipelines["metrics"].receivers


def test_hostmetrics_in_a_traces_pipeline_is_a_clear_error() -> None:
    text = """\
receivers:
  hostmetrics: {}
service:
  pipelines:
    metrics: {receivers: [hostmetrics]}
    traces/x: {receivers: [hostmetrics]}
"""
    with pytest.raises(ConfigError) as caught:
        load_config(text=text)
    assert str(caught.value) == (
        '<text>:6:28 service.pipelines.traces/x.receivers[0]: receiver "hostmetrics" produces '
        'only metrics; it cannot feed the traces pipeline "traces/x"'
    )


def test_bad_hostmetrics_settings_are_reported_with_paths() -> None:
    text = """\
receivers:
  hostmetrics/fast:
    collection_interval: 0s
    scrapers: [cpu, gpu]
service:
  pipelines:
    metrics: {receivers: [hostmetrics/fast]}
"""
    with pytest.raises(ConfigError) as caught:
        load_config(text=text)
    lines = str(caught.value).splitlines()
    assert lines[0] == (
        "<text>:3:26 receivers.hostmetrics/fast.collection_interval: must be greater than 0, "
        "e.g. 10s"
    )
    assert lines[1].startswith("<text>:4:21 receivers.hostmetrics/fast.scrapers[1]: Input should")
    assert "'gpu'" in lines[1]


# -- end to end -----------------------------------------------------------------------------
E2E = """
receivers:
  hostmetrics:
    collection_interval: 200ms
    filesystem_path: {tmp}
processors:
  recording: {{}}
service:
  tick_interval: 100ms
  pipelines:
    metrics: {{receivers: [hostmetrics], processors: [recording]}}
"""


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.e2e
def test_sidecar_delivers_host_metrics_that_follow_a_burning_child(
    tmp_path: Path, burner: psutil.Process
) -> None:
    """A running Sidecar samples every 200 ms into its pipeline; while the child spins, every
    window wholly inside the burn shows at least one of the host's CPUs busy."""
    sidecar = Sidecar(load_config(text=E2E.format(tmp=tmp_path)), str(tmp_path / "s.db"))
    sidecar.start()
    try:
        recording = RecordingProcessor.instances[0]

        def cpu() -> list[MetricPoint]:
            return [p for p in list(recording.points) if p.name == "system.cpu.utilization"]

        burn_start_ns = time.time_ns()
        burn(burner, 0.6)
        wait_for(lambda: sum(p.time_ns > burn_start_ns for p in cpu()) >= 3, "3 samples")
        burn_end_ns = time.time_ns()
        names = {p.name for p in list(recording.points)}
        assert {"system.memory.usage", "process.memory.usage", "system.network.io"} <= names
        series = cpu()
        inside = [
            p.value
            for previous, p in zip(series, series[1:], strict=False)
            if previous.time_ns >= burn_start_ns and p.time_ns <= burn_end_ns
        ]
        assert inside, f"no sampling window inside the burn ({burn_start_ns}..{burn_end_ns})"
        host_cpus = psutil.cpu_count() or 1
        assert min(v or 0.0 for v in inside) >= 0.8 / host_cpus
        assert sidecar.pipeline.telemetry.accepted["metric_points"] >= len(recording.points)
    finally:
        sidecar.stop()
    [(rid, _, sampler)] = sidecar._receivers
    assert rid == "hostmetrics" and isinstance(sampler, HostMetricsReceiver)
    assert sampler._thread is not None and not sampler._thread.is_alive()
