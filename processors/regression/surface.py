"""What the regression processor adds to the API, the CLI and health: routes, OpenAPI paths,
commands, its health check and recommendation rule(s)."""

from otel_perf.component import Surface
from otel_perf.processors.regression.cli import add_parsers
from otel_perf.processors.regression.health import regression_health
from otel_perf.processors.regression.recommend import RULES
from otel_perf.processors.regression.routes import regression_paths, regression_routes

SURFACE = Surface(
    routes=lambda context: regression_routes(context.pipeline),
    paths=lambda responses: regression_paths(responses.ok, responses.unauthorized),
    cli=add_parsers,
    health=(regression_health,),
    recommendations=RULES,
)
