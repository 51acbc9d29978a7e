"""Static checks of the Dockerfile (no Docker engine here): multi-stage, non-root numeric
user, the ports, `otel-perf run`, and a build context (what it copies, after .dockerignore)
from which the wheel builds with the embedded default config inside."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from wheels import build_wheel

ROOT = Path(__file__).parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DOCKERIGNORE = (ROOT / ".dockerignore").read_text()


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def parse(text: str) -> list[Stage]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            m = re.fullmatch(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            assert m, f"bad FROM: {line}"
            stages.append(Stage(m.group(1), m.group(2)))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def _exec_form(value: str) -> list[str] | None:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) else None


def dockerfile_problems(text: str) -> list[str]:
    stages = parse(text)
    problems = []
    if len(stages) < 2 or stages[0].name is None:
        return ["needs a named builder stage and a runtime stage"]
    builder, runtime = stages[0], stages[-1]
    if not any("pip wheel" in run for run in builder.args("RUN")):
        problems.append("the builder stage must build wheels (pip wheel)")
    if any("gcc" in run or "build-essential" in run for run in runtime.args("RUN")):
        problems.append("the runtime stage must not install a compiler")
    if not any("gcc" in run or "build-essential" in run for run in builder.args("RUN")):
        problems.append("the builder stage must install a C compiler (the native decoder)")
    uses_builder = any(
        f"from={builder.name}" in a for a in runtime.args("RUN") + runtime.args("COPY")
    )
    if not uses_builder:
        problems.append("the runtime stage must take the wheels from the builder")
    users = runtime.args("USER")
    if not users or not re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]):
        problems.append("the runtime stage must end with USER <non-zero numeric uid>")
    exposed = {p for a in runtime.args("EXPOSE") for p in a.split()}
    if not {"4317", "4318", "8080"} <= exposed:
        problems.append("EXPOSE must list 4317 4318 8080")
    entrypoints = runtime.args("ENTRYPOINT")
    if not entrypoints or _exec_form(entrypoints[-1]) != ["otel-perf", "run"]:
        problems.append('ENTRYPOINT must be ["otel-perf", "run"] (exec form)')
    if not runtime.args("HEALTHCHECK"):
        problems.append("HEALTHCHECK missing")
    return problems


def copy_sources(text: str) -> list[str]:
    """The build-context paths the Dockerfile copies (COPY without --from)."""
    sources = []
    for stage in parse(text):
        for args in stage.args("COPY"):
            if "--from=" in args:
                continue
            parts = [p for p in args.split() if not p.startswith("--")]
            sources += parts[:-1]
    return sources


def ignored(path: str, patterns: str) -> bool:
    """.dockerignore semantics for top-level paths: the last matching pattern wins."""
    result = False
    for raw in patterns.splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path.rstrip("/"), pattern):
            result = not negate
    return result


def test_dockerfile_passes_the_static_checks() -> None:
    assert dockerfile_problems(DOCKERFILE) == []


def test_runtime_stage_is_slim_and_the_builder_builds_from_the_same_base() -> None:
    stages = parse(DOCKERFILE)
    assert [s.name for s in stages] == ["builder", "runtime"]
    assert DOCKERFILE.count("ARG PYTHON_IMAGE=python:3.11-slim") == 1
    assert all(s.base == "${PYTHON_IMAGE}" for s in stages)


def test_checker_rejects_a_bad_dockerfile() -> None:
    bad = """
FROM python:3.11
COPY . /src
RUN pip install /src
USER root
EXPOSE 8080
ENTRYPOINT otel-perf run
"""
    assert dockerfile_problems(bad) == ["needs a named builder stage and a runtime stage"]
    two_stage = bad.replace(
        "FROM python:3.11", "FROM python:3.11 AS builder\nFROM python:3.11-slim"
    )
    assert dockerfile_problems(two_stage) == [
        "the builder stage must build wheels (pip wheel)",
        "the builder stage must install a C compiler (the native decoder)",
        "the runtime stage must take the wheels from the builder",
        "the runtime stage must end with USER <non-zero numeric uid>",
        "EXPOSE must list 4317 4318 8080",
        'ENTRYPOINT must be ["otel-perf", "run"] (exec form)',
        "HEALTHCHECK missing",
    ]


def test_what_the_dockerfile_copies_exists_and_is_not_ignored() -> None:
    sources = copy_sources(DOCKERFILE)
    assert {"pyproject.toml", "setup.py", "otel_perf", "processors", "exporters"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source, DOCKERIGNORE), f"{source} is excluded by .dockerignore"
    assert ignored("tests", DOCKERIGNORE) and ignored(".venv", DOCKERIGNORE)
    assert ignored("otel-perf.db", DOCKERIGNORE)


@pytest.fixture(scope="module")
def context_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """Build the wheel from a context holding only what the Dockerfile copies."""
    context = tmp_path_factory.mktemp("context")
    for source in copy_sources(DOCKERFILE):
        src = ROOT / source
        if src.is_dir():
            shutil.copytree(src, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, context / source)
    return build_wheel(context, tmp_path_factory.mktemp("wheel"))


def test_the_context_builds_a_wheel_with_the_embedded_default_config(
    context_wheel: zipfile.ZipFile,
) -> None:
    names = set(context_wheel.namelist())
    assert "otel_perf/config/default.yaml" in names
    assert "otel_perf/processors/spanmetrics/__init__.py" in names
    assert "otel_perf/exporters/otlp/__init__.py" in names
    assert [n for n in names if n.startswith("otel_perf/decode/_columnar.")], "native decoder"
    assert [n for n in names if n.startswith("otel_perf/processors/bottlenecks/_tree.")], "trees"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "otel-perf = otel_perf.cli:main" in context_wheel.read(entry_points).decode()
    default = context_wheel.read("otel_perf/config/default.yaml").decode()
    # the image's default binds loopback: leaving it takes a config or env var
    assert "${env:OTEL_PERF_GRPC_ENDPOINT:-127.0.0.1:4317}" in default
    assert "${env:OTEL_PERF_API_ENDPOINT:-127.0.0.1:8080}" in default
