"""Build otel-perf's wheel from a source tree, for the packaging and Dockerfile tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path


def build_wheel(source: Path, out: Path) -> zipfile.ZipFile:
    """``pip wheel`` of ``source`` (no deps, no isolation) into ``out``; the wheel, opened."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("otel_perf-*.whl")
    return zipfile.ZipFile(path)
