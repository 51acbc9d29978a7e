"""What the regression processor adds to the API: its routes and their OpenAPI paths."""

from otel_perf.component import Surface
from otel_perf.processors.regression.routes import regression_paths, regression_routes

SURFACE = Surface(
    routes=lambda context: regression_routes(context.pipeline),
    paths=lambda responses: regression_paths(responses.ok, responses.unauthorized),
)
