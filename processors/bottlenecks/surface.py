"""What the bottlenecks processor adds to recommendations: its rules."""

from otel_perf.component import Surface
from otel_perf.processors.bottlenecks.recommend import RULES

SURFACE = Surface(recommendations=RULES)
