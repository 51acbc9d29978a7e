"""What the incidents processor adds to the API: its routes and their OpenAPI paths."""

from otel_perf.component import Surface
from otel_perf.processors.incidents.routes import incident_paths, incident_routes

SURFACE = Surface(
    routes=lambda context: incident_routes(context.pipeline),
    paths=lambda responses: incident_paths(responses.ok, responses.unauthorized),
)
