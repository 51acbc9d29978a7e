"""The REST API under /performance/ (:mod:`~otel_perf.api.app`) and its OpenAPI document
(:mod:`~otel_perf.api.openapi`), read by the CLI and the dashboard."""
