"""A golden case's ``input.jsonl``: what to feed a component, one step a line.

Each line is one JSON object:

- ``{"resourceSpans": [...]}``, ``{"resourceMetrics": [...]}``, ``{"resourceLogs": [...]}``:
  an OTLP/JSON request, as the Collector's ``file`` exporter and ``otel-perf replay``
  write them, decoded by the real decoder (traces through the same native path as the
  receiver);
- ``{"findings": [...]}``: findings (``Finding`` as JSON) another processor produced: stored,
  and exported when the component is an exporter;
- ``{"tick": now_ns}`` / ``{"finish": now_ns}``: evaluate at event time ``now_ns``;
- ``{"flush": now_ns}``: processors save their state, an exporter sends what it holds
  (so what follows is sent apart, whatever its sender's timing);
- ``{"get": "/metrics", "match": "^otel_perf_"}``: exporters, read ``path`` from the
  exporter's own endpoint (``{port}`` in its config), keeping the lines that match;
- ``{"about": "..."}``: what the case shows, for people; ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from otel_perf.componenttest.configs import TestdataError
from otel_perf.decode import DecodeError, Decoder, parse_json
from otel_perf.findings import Finding
from otel_perf.model import Batch

SIGNALS = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs"}
KINDS = (*SIGNALS, "findings", "tick", "finish", "flush", "get", "about")


@dataclass(frozen=True)
class Step:
    """One line of a case: a batch, stored findings, an evaluation or a read."""

    batches: tuple[Batch, ...] = ()
    findings: tuple[Finding, ...] = ()
    tick_ns: int | None = None
    finish: bool = False
    flush_ns: int | None = None
    get: str | None = None
    match: str = ""
    where: str = ""


def read_steps(path: Path, decoder: Decoder) -> list[Step]:
    """Every step of ``path``.

    Raises:
        TestdataError: a line is not JSON, not a known step, or not valid OTLP / findings;
            the message names ``path:line``.
    """
    if not path.is_file():
        raise TestdataError(f"{path}: no such golden input")
    steps: list[Step] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            steps.append(_step(json.loads(line), decoder, where))
        except (ValueError, DecodeError, ValidationError) as exc:
            raise TestdataError(f"{where}: {exc}") from None
    return steps


def _step(document: Any, decoder: Decoder, where: str) -> Step:
    if not isinstance(document, dict) or not document.keys() & set(KINDS):
        raise ValueError(f"expected an object with one of {', '.join(KINDS)}")
    if "tick" in document or "finish" in document:
        now = document.get("tick", document.get("finish"))
        if not isinstance(now, int):
            raise ValueError(f"tick/finish must be event time in integer ns, got {now!r}")
        return Step(tick_ns=now, finish="finish" in document, where=where)
    if "flush" in document:
        if not isinstance(document["flush"], int):
            raise ValueError(f"flush must be event time in integer ns, got {document['flush']!r}")
        return Step(flush_ns=document["flush"], where=where)
    if "findings" in document:
        found = tuple(Finding.model_validate(f) for f in document["findings"])
        return Step(findings=found, where=where)
    if "get" in document:
        return Step(get=str(document["get"]), match=str(document.get("match", "")), where=where)
    return Step(batches=tuple(_batches(document, decoder)), where=where)


def _batches(document: dict[str, Any], decoder: Decoder) -> list[Batch]:
    out: list[Batch] = []
    for key, signal in SIGNALS.items():
        if key not in document:
            continue
        message = parse_json(signal, {key: document[key]})
        batch: Batch
        if signal == "traces":  # the receiver's path: the native columnar decode
            batch, problems = decoder.spans_from_bytes(message.SerializeToString())
        else:
            batch, problems = decoder.decode(signal, message)
        if problems.rejected:
            raise ValueError(f"the decoder rejected {problems.rejected}: {problems.message()}")
        out.append(batch)
    return out
