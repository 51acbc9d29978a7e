"""What the slo processor adds to the API, the CLI, health and recommendations:
``/performance/slo``, ``otel-perf slo``, its burn-rate and breach check, its rule."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.cli.format import empty, folding_table
from otel_perf.cli.http import add_reader, api_get, api_query, show
from otel_perf.component import OpenAPIResponses, PipelineView, RouteContext, Surface
from otel_perf.component.surface import Paths
from otel_perf.processors.slo.health import slo_health
from otel_perf.processors.slo.recommend import RULES, evaluated_ns


def slo_routes(context: RouteContext) -> list[Route]:
    """``GET /performance/slo`` (``?service=``) over every ``slo`` processor's snapshot."""
    pipeline: PipelineView = context.pipeline

    async def slo(request: Request) -> Response:
        """Every objective: target, SLI, error budget with its arithmetic, burn rates, alerts."""
        service = request.query_params.get("service")
        objectives = [
            view
            for snap in pipeline.snapshot("slo").values()
            for view in snap.get("objectives", [])
            if not service or view["service"] == service
        ]
        return JSONResponse({"objectives": objectives})

    return [Route("/performance/slo", slo)]


def slo_paths(responses: OpenAPIResponses) -> Paths:
    """The OpenAPI path of :func:`slo_routes`."""
    service: dict[str, Any] = {
        "name": "service",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
    }
    summary = (
        "Each objective: target, SLI over its window, error budget consumed and remaining "
        "with the formulas and figures, burn rate per alert window, alert state"
    )
    get = {
        "summary": summary,
        "parameters": [service],
        "responses": {"200": responses.ok, "401": responses.unauthorized},
    }
    return {"/performance/slo": {"get": get}}


def add_slo_reader(sub: Any) -> None:
    """``otel-perf slo``: the objectives ``/performance/slo`` serves, as a table."""
    add_reader(sub, "slo", cmd_slo, "objectives: SLI, error budget, burn rates, alerts")


def cmd_slo(args: argparse.Namespace, console: Console) -> int:
    data = api_get(args, "/performance/slo" + api_query(args))
    show(args, console, data, print_slo)
    return 0


def print_slo(console: Console, data: Any) -> None:
    if not data["objectives"]:
        empty(
            console,
            "SLOs",
            "Objectives appear per service once its SERVER spans arrive "
            "(suggested ones), or as declared under processors.slo.objectives.",
        )
        return
    table = folding_table(
        "objective", "service", "target", "SLI", "budget left", "burn 1h", "alerts", title="SLOs"
    )
    for o in data["objectives"]:
        budget = o.get("budget") or {}
        burn = next((r["long"]["burn_rate"] for r in o.get("rules", [])), None)
        firing = [name for name, a in o["alerts"].items() if a["firing"]]
        table.add_row(
            o["name"],
            o["service"],
            f"{o['target']:.3%}",
            _pct(budget.get("sli")),
            _pct(budget.get("error_budget_remaining")),
            "-" if burn is None else f"{burn:.3g}x",
            ", ".join(firing) or "-",
        )
    console.print(table)
    for o in data["objectives"]:
        if o.get("budget") and o["budget"]["total"]:
            console.print(
                f"[bold]{o['name']}[/bold]: " + o["budget"]["formulas"]["error_budget_remaining"]
            )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3%}"


SURFACE = Surface(
    routes=slo_routes,
    paths=slo_paths,
    cli=add_slo_reader,
    health=(slo_health,),
    recommendations=RULES,
    evaluated_ns=evaluated_ns,
)
