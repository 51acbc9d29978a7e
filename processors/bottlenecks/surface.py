"""What the bottlenecks processor adds to the API, the CLI and recommendations:
``/performance/bottlenecks``, ``otel-perf bottlenecks``, its rules and the period its
findings' counts cover."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.cli.format import duration_ms, empty, folding_table
from otel_perf.cli.http import add_reader, api_get, api_query, show
from otel_perf.component import OpenAPIResponses, RouteContext, Surface
from otel_perf.component.routes import query_limit
from otel_perf.component.surface import Paths
from otel_perf.processors.bottlenecks.recommend import RULES
from otel_perf.webbody import error

MISSING = "no bottlenecks (or aggregates) processor in this pipeline's config"


def bottleneck_routes(context: RouteContext) -> list[Route]:
    """``GET /performance/bottlenecks`` (``?service=``, ``?limit=``) over the first
    ``bottlenecks`` processor's snapshot, or in the analysis tier the ranking an
    ``aggregates`` processor sums from the trace tier."""
    pipeline = context.pipeline

    async def bottlenecks(request: Request) -> Response:
        """The critical-path ranking with evidence, slow queries, repeated calls, slow
        requests, checkpoint phases and memory growth."""
        limit = query_limit(request)
        if isinstance(limit, Response):
            return limit
        service = request.query_params.get("service")
        snaps = pipeline.snapshot("bottlenecks")
        if not snaps:
            tier = pipeline.snapshot("aggregates")
            snaps = {pid: snap["bottlenecks"] for pid, snap in tier.items() if snap}
        if not snaps:
            return error(404, MISSING)
        pid, snap = next(iter(snaps.items()))
        body: dict[str, Any] = {"processor": pid}
        for key, value in snap.items():
            if isinstance(value, list):
                value = [r for r in value if not service or r.get("service") == service][:limit]
            body[key] = value
        return JSONResponse(body)

    return [Route("/performance/bottlenecks", bottlenecks)]


def bottleneck_paths(responses: OpenAPIResponses) -> Paths:
    """The OpenAPI path of :func:`bottleneck_routes`."""
    summary = (
        "Operations ranked by their share of critical-path time, with exemplar trace ids; "
        "slow queries by fingerprint; N+1 and repeated-call patterns; slow requests with their "
        "critical path; checkpoint phases; memory growth per route"
    )
    parameters = [
        {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
        for name, kind in (("service", "string"), ("limit", "integer"))
    ]
    get = {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": responses.ok,
            "400": {"description": "bad query parameter"},
            "401": responses.unauthorized,
            "404": {"description": "no bottlenecks processor configured"},
        },
    }
    return {"/performance/bottlenecks": {"get": get}}


def add_bottlenecks_reader(sub: Any) -> None:
    """``otel-perf bottlenecks``: what ``/performance/bottlenecks`` serves, as tables."""
    add_reader(
        sub, "bottlenecks", cmd_bottlenecks, "where the time goes: critical path, slow queries, N+1"
    )


def cmd_bottlenecks(args: argparse.Namespace, console: Console) -> int:
    data = api_get(args, "/performance/bottlenecks" + api_query(args))
    show(args, console, data, print_bottlenecks)
    return 0


def print_bottlenecks(console: Console, data: Any) -> None:
    if data["ranking"]:
        _print_ranking(console, data["ranking"])
    else:
        empty(console, "bottlenecks", EVERY_WINDOW.format(what="The ranking"))
    _print_queries(console, data["slow_queries"][:20])
    _print_patterns(console, data["patterns"][:20])


#: narrower than this, the ranking leaves out the 32-character exemplar trace ids
EXEMPLAR_WIDTH = 140


def _print_ranking(console: Console, rows: list[dict[str, Any]]) -> None:
    exemplars = console.width >= EXEMPLAR_WIDTH
    headers = ["service", "operation", "share of critical path", "critical path", "self time"]
    ranking = folding_table(*headers, "traces", title="bottlenecks")
    if exemplars:
        ranking.add_column("exemplar trace", no_wrap=True)
    for r in rows:
        cells = [
            r["service"],
            r["operation"],
            f"{r['critical_path_share']:.1%}",
            duration_ms(r["critical_path_ms"]),
            duration_ms(r["self_time_ms"]),
            str(r["traces"]),
        ]
        ranking.add_row(*cells, *([(r["exemplar_trace_ids"] or ["-"])[0]] if exemplars else []))
    console.print(ranking)
    if not exemplars:
        console.print("(exemplar trace ids: --wide or -o json)")


EVERY_WINDOW = (
    "{what} is computed from complete traces at the end of each evaluation window "
    "(processors.bottlenecks.evaluation_interval, 1 min by default)."
)


def _print_queries(console: Console, rows: list[dict[str, Any]]) -> None:
    if not rows:
        empty(
            console,
            "queries",
            "Queries come from client spans with db.query.text (or db.statement); none seen yet.",
        )
        return
    queries = folding_table("service", "db", "count", "p50", "p95", title="queries")
    queries.add_column("fingerprint", overflow="fold", ratio=1, min_width=30)
    for q in rows:
        queries.add_row(
            q["service"],
            q["db_system"],
            str(q["count"]),
            duration_ms(q["p50_ms"]),
            duration_ms(q["p95_ms"]),
            q["fingerprint"],
        )
    console.print(queries)


def _print_patterns(console: Console, rows: list[dict[str, Any]]) -> None:
    if not rows:
        empty(
            console,
            "repeated and sequential calls",
            EVERY_WINDOW.format(what="N+1 and repeated-call detection"),
        )
        return
    patterns = folding_table(
        "pattern",
        "service",
        "parent operation",
        "calls",
        "saveable per trace",
        title="repeated and sequential calls",
    )
    patterns.add_column("fingerprint", overflow="fold", ratio=1, min_width=30)
    for p in rows:
        patterns.add_row(
            p["pattern"],
            p["service"],
            p["parent_operation"],
            str(p["max_calls"]),
            duration_ms(p["saveable_ms_per_trace"]),
            p["fingerprint"],
        )
    console.print(patterns)


# counts in its findings cover one evaluation window
SURFACE = Surface(
    routes=bottleneck_routes,
    paths=bottleneck_paths,
    cli=add_bottlenecks_reader,
    recommendations=RULES,
    period_setting="evaluation_interval",
)
