"""What the anomaly processor adds to the CLI: ``anomaly score``."""

from otel_perf.component import Surface
from otel_perf.processors.anomaly.cli import add_parsers

SURFACE = Surface(cli=add_parsers)
