"""processors/ and exporters/ install as otel_perf.processors / otel_perf.exporters only."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from wheels import build_wheel

ROOT = Path(__file__).parents[1]


def packages_in(folder: Path) -> set[str]:
    return {
        str(p.parent.relative_to(folder)).replace("/", ".")
        for p in folder.rglob("__init__.py")
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


def test_wheel_holds_every_processor_and_exporter_package(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for folder in ("processors", "exporters"):
        for package in packages_in(ROOT / folder):
            sub = "" if package == "." else package.replace(".", "/") + "/"
            assert f"otel_perf/{folder}/{sub}__init__.py" in names


def test_nothing_named_processors_or_exporters_at_the_top(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert "processors" not in tops and "exporters" not in tops
    assert "otel_perf/config/default.yaml" in wheel.namelist()


def test_component_testdata_is_not_installed(wheel: zipfile.ZipFile) -> None:
    """Golden cases and contract configs (``processors/*/testdata``) are the repo's tests."""
    assert list((ROOT / "processors" / "slo" / "testdata").glob("*/input.jsonl"))
    assert [n for n in wheel.namelist() if "/testdata/" in n] == []
    assert "otel_perf/componenttest/__init__.py" in wheel.namelist()  # the kit itself ships


def test_wheel_holds_the_dashboard_files(wheel: zipfile.ZipFile) -> None:
    static = ROOT / "otel_perf" / "dashboard" / "static"
    expected = {f"otel_perf/dashboard/static/{p.name}" for p in static.iterdir()}
    assert len(expected) >= 4 and expected <= set(wheel.namelist())


def test_editable_install_imports_mapped_packages() -> None:
    import otel_perf.exporters
    import otel_perf.processors

    assert Path(otel_perf.processors.__file__).parent == ROOT / "processors"
    assert Path(otel_perf.exporters.__file__).parent == ROOT / "exporters"


def test_building_prints_no_setuptools_warning(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v"]
        + ["-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    output = done.stdout + done.stderr
    assert "Warning" not in output and "!!" not in output, output[-3000:]
