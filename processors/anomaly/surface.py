"""What the anomaly processor adds to the CLI, health and recommendations: ``anomaly score``,
its check, its rule."""

from otel_perf.component import Surface
from otel_perf.processors.anomaly.cli import add_parsers
from otel_perf.processors.anomaly.health import anomaly_health
from otel_perf.processors.anomaly.recommend import RULES, closed_by

SURFACE = Surface(
    cli=add_parsers, health=(anomaly_health,), recommendations=RULES, closed_by=closed_by
)
