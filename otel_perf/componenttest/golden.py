"""Golden cases: ``testdata/<case>/input.jsonl`` in, a checked-in answer out.

A processor's answer is ``findings.json`` (its findings, normalised: see
:mod:`~otel_perf.componenttest.normalise`); an exporter's is ``output.json``: what it
sent to ``{capture}`` (a loopback HTTP server; OTLP protobuf bodies rendered as OTLP
JSON), the files it wrote under ``{tmp}`` and what ``get`` steps read from its own
endpoint (``{port}``). A case may hold its own ``config.yaml`` (else the component's
``testdata/config.yaml`` applies) and an ``upstream.yaml`` (see :mod:`.harness`).

``OTEL_PERF_UPDATE_GOLDEN=1`` writes the answers instead of comparing them; review the
diff before committing it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from otel_perf.component import Factory, processor_types
from otel_perf.componenttest.capture import CaptureServer, Request
from otel_perf.componenttest.configs import CONFIG_FILE, TestdataError, load_config
from otel_perf.componenttest.harness import Harness, event_window, last_time_ns, upstream_of
from otel_perf.componenttest.normalise import (
    Volatile,
    normalise_finding,
    normalise_interval,
    normalise_value,
    sort_key,
)
from otel_perf.componenttest.steps import Step
from otel_perf.decode import message_to_json, parse_protobuf
from otel_perf.store import Store

UPDATE_ENV = "OTEL_PERF_UPDATE_GOLDEN"
INPUT = "input.jsonl"
_OTLP_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}

__all__ = ["UPDATE_ENV", "check_golden", "golden_cases", "normalise_finding", "run_case"]


def golden_cases(testdata: Path) -> list[Path]:
    """The case folders under ``testdata`` (those holding an ``input.jsonl``), by name."""
    return sorted(p.parent for p in testdata.glob(f"*/{INPUT}"))


def is_processor(factory: Factory[Any, Any]) -> bool:
    return processor_types().get(factory.type) is factory


def answer_file(factory: Factory[Any, Any], case: Path) -> Path:
    return case / ("findings.json" if is_processor(factory) else "output.json")


def case_config(factory: Factory[Any, Any], case: Path, substitutions: dict[str, str]) -> Any:
    """The case's own ``config.yaml`` when it has one, else the component's."""
    own = case / CONFIG_FILE
    return load_config(factory, case.parent, substitutions, own if own.is_file() else None)


def check_golden(factory: Factory[Any, Any], case: Path, tmp_path: Path) -> Any:
    """Run ``case`` and compare with its answer file (or write it, with ``UPDATE_ENV``).

    Returns the answer. Raises AssertionError with a diff when they differ.
    """
    result = run_case(factory, case, tmp_path)
    path = answer_file(factory, case)
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if os.environ.get(UPDATE_ENV) == "1":
        path.write_text(text, encoding="utf-8")
        return result
    if not path.is_file():
        raise AssertionError(f"{path} is missing: run with {UPDATE_ENV}=1 to write it")
    expected = path.read_text(encoding="utf-8")
    if json.loads(expected) != result:
        diff = difflib.unified_diff(
            expected.splitlines(), text.splitlines(), str(path), "this run", lineterm=""
        )
        raise AssertionError(
            f"{factory.type}: golden case {case.name} differs ({UPDATE_ENV}=1 rewrites it "
            "after review):\n" + "\n".join(list(diff)[:200])
        )
    return result


def run_case(factory: Factory[Any, Any], case: Path, tmp_path: Path) -> Any:
    """The normalised answer of one case: findings (processor) or output (exporter)."""
    if is_processor(factory):
        return run_processor_case(factory, case, tmp_path)
    return run_exporter_case(factory, case, tmp_path)


def run_processor_case(factory: Factory[Any, Any], case: Path, tmp_path: Path) -> Any:
    config = case_config(factory, case, {"tmp": str(tmp_path)})
    store = Store(":memory:")
    harness = Harness(factory, config, store, upstream_of(case))
    try:
        harness.start()
        steps = harness.read(case)
        found = harness.run(steps)
        harness.flush(last_time_ns(steps))
    finally:
        harness.shutdown()
        store.close()
    out: dict[str, Any] = {"findings": sorted((normalise_finding(f) for f in found), key=sort_key)}
    if harness.published:
        out["intervals"] = [normalise_interval(i) for i in harness.published]
    return out


def run_exporter_case(
    factory: Factory[Any, Any],
    case: Path,
    tmp_path: Path,
    after: Callable[[Harness, list[Step]], None] | None = None,
) -> Any:
    """The exporter's output for ``case``; ``after(harness, steps)`` runs once it is shut
    down, before the capture server closes."""
    files = tmp_path / "files"
    files.mkdir(parents=True, exist_ok=True)
    gets: list[list[str]] = []
    with CaptureServer() as capture:
        values = {"tmp": str(files), "capture": capture.url, "port": str(_free_port())}
        store = Store(":memory:")
        harness = Harness(factory, case_config(factory, case, values), store, upstream_of(case))
        try:
            harness.start()
            steps = harness.read(case)
            harness.run(steps, get=lambda step: gets.append(_get(values["port"], step)))
            harness.flush(last_time_ns(steps))
        finally:
            harness.shutdown()
            store.close()
        if after is not None:
            after(harness, steps)
        requests = capture.requests
    return _exporter_output(requests, files, gets, Volatile(event_ns=event_window(steps)))


def _exporter_output(
    requests: list[Request], files: Path, gets: list[list[str]], volatile: Volatile
) -> dict[str, Any]:
    """What the golden file holds: the captured requests, the files written, the GETs."""
    out: dict[str, Any] = {}
    if requests:
        ordered = sorted(requests, key=lambda r: r.path)  # one path's requests stay in order
        out["requests"] = _merge_logs([_request(r, volatile) for r in ordered])
    if written := _files(files, volatile):
        out["files"] = written
    if gets:
        out["gets"] = gets
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: str, step: Step) -> list[str]:
    assert step.get is not None
    response = httpx.get(f"http://127.0.0.1:{port}{step.get}", timeout=10)
    response.raise_for_status()
    pattern = re.compile(step.match)
    return [line for line in response.text.splitlines() if pattern.search(line)]


def _request(request: Request, volatile: Volatile) -> dict[str, Any]:
    path = request.path.split("?", 1)[0]
    signal = next((s for suffix, s in _OTLP_PATHS.items() if path.endswith(suffix)), None)
    body: Any
    if signal is not None and "protobuf" in request.content_type:
        body = message_to_json(parse_protobuf(signal, request.body))
    elif "json" in request.content_type:
        body = json.loads(request.body)
    else:
        body = request.body.decode("utf-8", "replace").splitlines()
    return {"path": request.path, "body": normalise_value(body, volatile, exact=True)}


def _merge_logs(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OTLP log requests as one: which records a batching SDK sends together depends on
    its timer, so the golden file pins the records, in order, and not the batches."""
    logs = [r for r in requests if r["path"].endswith("/v1/logs") and isinstance(r["body"], dict)]
    if len(logs) < 2:
        return requests
    groups: dict[str, dict[str, Any]] = {}  # resource and scope -> their records
    for request in logs:
        for resource_logs in request["body"].get("resourceLogs", []):
            for scope_logs in resource_logs.get("scopeLogs", []):
                key = json.dumps([resource_logs.get("resource"), scope_logs.get("scope")])
                group = groups.setdefault(key, {**scope_logs, "logRecords": []})
                group["logRecords"] += scope_logs.get("logRecords", [])
    merged = [
        {"resource": json.loads(key)[0], "scopeLogs": [group]} for key, group in groups.items()
    ]
    first = requests.index(logs[0])
    rest = [r for r in requests if r not in logs]
    rest.insert(first, {"path": logs[0]["path"], "body": {"resourceLogs": merged}})
    return rest


def _files(folder: Path, volatile: Volatile) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        lines = path.read_text(encoding="utf-8").splitlines()
        if path.suffix == ".jsonl":
            lines = [normalise_value(json.loads(line), volatile, True) for line in lines]
        out[str(path.relative_to(folder))] = lines
    return out


def first_case(factory: Factory[Any, Any], testdata: Path) -> Path:
    """The first golden case; a :class:`TestdataError` naming the type when there is none."""
    cases = golden_cases(testdata)
    if not cases:
        raise TestdataError(
            f"component type {factory.type!r} has no golden case: add "
            f"{testdata}/<case>/{INPUT} (and run with {UPDATE_ENV}=1 to write its answer)"
        )
    return cases[0]
