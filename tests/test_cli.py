"""The CLI for people, against a real sidecar on loopback: one-sentence errors, ``--api``
without a scheme, a command's own usage on a bad flag, times and durations with units,
findings with their state, whole fingerprints, and empty tables that say what is missing."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import DEFAULT, SidecarProcess, poll, send_traces, start_sidecar
from ports import free_port
from scenarios import ITEMS_BY_ORDER_FINGERPRINT, generate

from otel_perf.cli.commands import main

pytestmark = pytest.mark.e2e

BOTTLENECKS = DEFAULT.replace(
    "service:\n",
    "processors:\n"
    "  spanmetrics: {{}}\n"
    "  bottlenecks: {{trace_quiet_time: 0s, evaluation_interval: 5s, min_traces: 10}}\n"
    "service:\n"
    "  tick_interval: 100ms\n",
).replace(
    "traces: {{receivers: [otlp]}}",
    "traces: {{receivers: [otlp], processors: [spanmetrics, bottlenecks]}}",
)
RAW_NANOSECONDS = re.compile(r"\b\d{16,}\b")
#: "just now", "3 min ago", "1 h 5 min ago" or a local ISO-8601 time
WHEN = re.compile(
    r"^ (just now|(\d+ h )?\d+ (s|min) ago|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d) +$"
)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    """A sidecar that has seen the shop's N+1 scenario and reported on it."""
    sidecar = start_sidecar(tmp_path_factory.mktemp("busy"), BOTTLENECKS)
    try:
        send_traces(sidecar, generate("n_plus_one", traces=300).requests)
        poll(
            lambda: sidecar.get("/performance/findings?kind=n_plus_one")["findings"],
            bool,
            what="an n_plus_one finding",
        )
        yield sidecar
    finally:
        assert sidecar.stop() == 0, sidecar.log()


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[SidecarProcess]:
    sidecar = start_sidecar(tmp_path, BOTTLENECKS)
    try:
        yield sidecar
    finally:
        sidecar.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_api_without_a_scheme_means_http(
    busy: SidecarProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "health", "--api", f"127.0.0.1:{busy.api}")
    assert (code, err) == (0, "")
    assert f"otel-perf at http://127.0.0.1:{busy.api}: ok" in out


def test_findings_show_state_local_time_and_no_raw_nanoseconds(
    busy: SidecarProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "findings", "--api", f"127.0.0.1:{busy.api}", "--wide")
    assert code == 0
    rows = [line for line in out.splitlines() if "n_plus_one" in line]
    assert rows and all("│ open " in row for row in rows)
    assert all(WHEN.search(row.split("│")[1]) for row in rows), rows
    assert not RAW_NANOSECONDS.search(out)


def test_fingerprints_are_whole(busy: SidecarProcess, capsys: pytest.CaptureFixture[str]) -> None:
    api = f"127.0.0.1:{busy.api}"
    code, wide, _ = run(capsys, "bottlenecks", "--api", api, "--wide")
    assert code == 0
    assert ITEMS_BY_ORDER_FINGERPRINT in wide  # one line per row, nothing cut
    code, narrow, _ = run(capsys, "bottlenecks", "--api", api)
    assert code == 0
    assert "…" not in narrow  # wrapped at 80 columns, never cut
    assert "order_id = ?" in narrow.replace("│", " ")


def test_durations_carry_units(busy: SidecarProcess, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bottlenecks", "--api", f"127.0.0.1:{busy.api}", "--wide")
    assert code == 0
    # calls are named by their statement since issue 15 (db system and fingerprint)
    row = next(line for line in out.splitlines() if ITEMS_BY_ORDER_FINGERPRINT in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert all(re.fullmatch(r"[\d.]+ (µs|ms|s|min|h)", cell) for cell in cells[3:5]), cells
    assert re.fullmatch(r"[0-9a-f]{32}", cells[-1])  # the exemplar trace, when wide


def test_api_error_is_one_sentence(
    busy: SidecarProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "findings", "--api", f"127.0.0.1:{busy.api}", "--kind", "nope")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "{" not in err
    assert err.startswith(f"otel-perf findings: GET http://127.0.0.1:{busy.api}/performance/")
    assert 'HTTP 400 Bad Request: query parameter kind: unknown kind "nope"' in err
    assert err.rstrip().endswith("incident)")  # the whole message, not cut


def test_unreachable_api_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, _, err = run(capsys, "findings", "--api", f"127.0.0.1:{port}")
    assert code == 1
    assert f"cannot reach the otel-perf API at http://127.0.0.1:{port}" in err
    assert "--api" in err and err.count("\n") == 1


def test_empty_tables_say_what_is_missing(
    idle: SidecarProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    api = f"127.0.0.1:{idle.api}"
    code, out, _ = run(capsys, "findings", "--api", api)
    assert code == 0
    assert "findings: none yet." in out and "┏" not in out
    code, out, _ = run(capsys, "bottlenecks", "--api", api)
    assert "bottlenecks: none yet." in out and "evaluation_interval" in out
    code, out, _ = run(capsys, "metrics", "--api", api)
    assert "spans per service: none yet." in out and "OTEL_EXPORTER_OTLP_ENDPOINT" in out


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "otel_perf.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_a_bad_flag_shows_the_commands_usage() -> None:
    result = cli("findings", "--servce", "checkout")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: otel-perf findings ")
    assert "otel-perf findings: error: unrecognized arguments: --servce checkout" in result.stderr
    nested = cli("capacity", "forecast", "cpu", "--horizn", "7d")
    assert nested.stderr.startswith("usage: otel-perf capacity forecast ")


def test_help_is_written_for_users() -> None:
    top = cli("--help")
    assert top.returncode == 0
    assert "``" not in top.stdout and "otel-perf run" in top.stdout
    for command in ("findings", "bottlenecks", "benchmark", "run"):
        page = cli(command, "--help").stdout
        assert "``" not in page and ":class:" not in page
        assert page.startswith(f"usage: otel-perf {command}")
    assert "like 127.0.0.1:8080" in cli("findings", "--help").stdout
    components = cli("components").stdout
    assert "``" not in components and "OTLP over gRPC and HTTP" in components
