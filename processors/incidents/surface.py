"""What the incidents processor adds to the API and CLI: its routes, their OpenAPI paths and
``otel-perf incidents``."""

from otel_perf.component import Surface
from otel_perf.processors.incidents.cli import add_parser
from otel_perf.processors.incidents.routes import incident_paths, incident_routes

SURFACE = Surface(
    cli=add_parser,
    routes=lambda context: incident_routes(context.pipeline),
    paths=lambda responses: incident_paths(responses.ok, responses.unauthorized),
)
