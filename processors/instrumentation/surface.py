"""What the instrumentation processor adds to the CLI: ``instrumentation``."""

from otel_perf.component import Surface
from otel_perf.processors.instrumentation.cli import add_parsers

SURFACE = Surface(cli=add_parsers)
