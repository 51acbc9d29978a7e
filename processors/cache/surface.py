"""What the cache processor adds to the API, the CLI and recommendations: routes, OpenAPI
paths, commands, its rules."""

from otel_perf.component import Surface
from otel_perf.processors.cache.cli import add_parsers
from otel_perf.processors.cache.recommend import HELD, RULES
from otel_perf.processors.cache.routes import cache_paths, cache_routes

SURFACE = Surface(
    routes=lambda context: cache_routes(context.pipeline, context.authenticated),
    paths=lambda responses: cache_paths(responses.ok, responses.unauthorized),
    cli=add_parsers,
    recommendations=RULES,
    held_findings=HELD,
)
