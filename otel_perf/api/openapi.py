"""The REST API's OpenAPI 3.1 document, from one table of operations.

Each core route is one :class:`Operation` (path, the API method that serves it, summary,
parameters, responses): :mod:`otel_perf.api` mounts its routes from the same table, so a
route cannot go undocumented. Components add their paths through their factory's surface;
``tests/test_api.py`` checks that every mounted route is in the document and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_perf.findings import Finding, Kind
from otel_perf.recommend.ranking import CATEGORIES

OK: dict[str, Any] = {
    "description": "OK",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
UNAUTHORIZED: dict[str, Any] = {"description": "missing or wrong bearer token"}
BAD_QUERY: dict[str, Any] = {"description": "bad query parameter"}


def query(name: str, kind: str, enum: list[str] | None = None) -> dict[str, Any]:
    """An optional query parameter of JSON type ``kind`` (with its allowed values)."""
    schema: dict[str, Any] = {"type": kind}
    if enum:
        schema["enum"] = enum
    return {"name": name, "in": "query", "required": False, "schema": schema}


def json_ok(schema: dict[str, Any]) -> dict[str, Any]:
    """A 200 answer whose JSON body has ``schema``."""
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


@dataclass(frozen=True)
class Operation:
    """One documented route: where, served by which API method, and what it answers."""

    path: str
    handler: str
    summary: str
    params: tuple[dict[str, Any], ...] = ()
    responses: Mapping[str, dict[str, Any]] = field(
        default_factory=lambda: {"200": OK, "401": UNAUTHORIZED}
    )
    method: str = "get"

    def path_item(self) -> dict[str, Any]:
        """The OpenAPI path item of this operation."""
        operation: dict[str, Any] = {"summary": self.summary}
        if self.params:
            operation["parameters"] = list(self.params)
        operation["responses"] = dict(self.responses)
        return {self.method: operation}


LIMIT, SERVICE = query("limit", "integer"), query("service", "string")

OPERATIONS = (
    Operation(
        "/performance/health",
        "health",
        "Liveness and readiness: one status (ok, degraded, critical) with reasons ({source, "
        "status, text}) from ingest (queue, refused, rejected, component and export errors), "
        "the store, SLOs, anomalies, regressions and capacity; version, uptime, queue fill, "
        "components",
        responses={"200": OK, "503": {"description": "queue full (degraded)"}},
    ),
    Operation(
        "/performance/recommendations",
        "recommendations",
        "One list of actions from every processor, ranked by impact on users (severity "
        "breaks ties), each with its category, estimated impact (kind, value, text), score, "
        "the ranking's reasons, evidence (trace ids, figures) and the finding it came from",
        (SERVICE, query("category", "string", list(CATEGORIES)), LIMIT),
        {"200": OK, "400": BAD_QUERY, "401": UNAUTHORIZED},
    ),
    Operation(
        "/performance/metrics",
        "metrics",
        "Ingest counters per signal, queue, processing, spans per service and route, events "
        "by name; with span metrics, RED (rate, error ratio, p50/p95/p99) per service and "
        "operation over the last minute; with the instrumentation processor, per service the "
        "signals and span kinds (server, client, db, messaging, internal) that arrive and a "
        "verdict",
        (SERVICE, LIMIT),
        {"200": json_ok({"$ref": "#/components/schemas/Metrics"}), "401": UNAUTHORIZED},
    ),
    Operation(
        "/performance/findings",
        "findings",
        "Stored findings, newest first",
        (
            query("kind", "string", [k.value for k in Kind]),
            SERVICE,
            query("since_ns", "integer"),
            LIMIT,
        ),
        {
            "200": json_ok(
                {
                    "type": "object",
                    "properties": {
                        "findings": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Finding"},
                        }
                    },
                }
            ),
            "400": BAD_QUERY,
            "401": UNAUTHORIZED,
        },
    ),
)


def _counts(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": {"type": "integer"},
    }


METRICS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "receiver": {
            "type": "object",
            "properties": {
                name: _counts(f"{name} items per signal")
                for name in ("accepted", "refused", "rejected")
            },
        },
        "queue": _counts(
            "queue depth and capacity in items, bytes (as sent) and capacity_bytes, "
            "and the most it held (peak items, peak_bytes)"
        ),
        "processed": _counts("items processed per signal"),
    },
}


def document(
    version: str,
    operations: Iterable[Operation],
    component_paths: Mapping[str, Any],
    component_metrics: Mapping[str, Any],
) -> dict[str, Any]:
    """The whole document: the core ``operations``, the components' paths and the schemas
    (``component_metrics``: the properties components add to ``Metrics``)."""
    finding_schema = Finding.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = finding_schema.pop("$defs", {})
    paths = dict(component_paths)
    metrics = {
        **METRICS_SCHEMA,
        "properties": {**METRICS_SCHEMA["properties"], **component_metrics},
    }
    for operation in operations:
        paths[operation.path] = operation.path_item()
    return {
        "openapi": "3.1.0",
        "info": {"title": "otel-perf", "version": version},
        "paths": paths,
        "components": {
            "schemas": {**defs, "Finding": finding_schema, "Metrics": metrics},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
