"""What the instrumentation processor adds to the CLI and recommendations:
``instrumentation``, its rule."""

from otel_perf.component import Surface
from otel_perf.processors.instrumentation.cli import add_parsers
from otel_perf.processors.instrumentation.recommend import RULES

SURFACE = Surface(cli=add_parsers, recommendations=RULES)
