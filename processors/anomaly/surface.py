"""What the anomaly processor adds to the CLI and health: ``anomaly score``, its check."""

from otel_perf.component import Surface
from otel_perf.processors.anomaly.cli import add_parsers
from otel_perf.processors.anomaly.health import anomaly_health

SURFACE = Surface(cli=add_parsers, health=(anomaly_health,))
