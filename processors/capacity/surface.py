"""What the capacity processor adds to the API and the CLI: routes, OpenAPI paths, commands."""

from otel_perf.component import Surface
from otel_perf.processors.capacity.cli import add_parsers
from otel_perf.processors.capacity.routes import capacity_paths, capacity_routes

SURFACE = Surface(
    routes=lambda context: capacity_routes(context.pipeline),
    paths=lambda responses: capacity_paths(responses.ok, responses.unauthorized),
    cli=add_parsers,
)
