"""What the bottlenecks processor adds to recommendations: its rules and the period its
findings' counts cover."""

from otel_perf.component import Surface
from otel_perf.processors.bottlenecks.recommend import RULES

# counts in its findings cover one evaluation window
SURFACE = Surface(recommendations=RULES, period_setting="evaluation_interval")
