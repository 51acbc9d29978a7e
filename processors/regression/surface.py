"""What the regression processor adds to the API and the CLI: routes, OpenAPI paths, commands."""

from otel_perf.component import Surface
from otel_perf.processors.regression.cli import add_parsers
from otel_perf.processors.regression.routes import regression_paths, regression_routes

SURFACE = Surface(
    routes=lambda context: regression_routes(context.pipeline),
    paths=lambda responses: regression_paths(responses.ok, responses.unauthorized),
    cli=add_parsers,
)
