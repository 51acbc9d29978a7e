"""What the capacity processor adds to the API, the CLI and health: routes, OpenAPI paths,
commands, its health check and recommendation rule(s)."""

from otel_perf.component import Surface
from otel_perf.processors.capacity.cli import add_parsers
from otel_perf.processors.capacity.health import capacity_health
from otel_perf.processors.capacity.recommend import HELD, RULES
from otel_perf.processors.capacity.routes import capacity_paths, capacity_routes

SURFACE = Surface(
    routes=lambda context: capacity_routes(context.pipeline),
    paths=lambda responses: capacity_paths(responses.ok, responses.unauthorized),
    cli=add_parsers,
    health=(capacity_health,),
    recommendations=RULES,
    held_findings=HELD,
    period_setting="forecast_window",  # a right-sizing saving is over one window
)
