"""What the slo processor adds to health: its burn-rate and breach check."""

from otel_perf.component import Surface
from otel_perf.processors.slo.health import slo_health

SURFACE = Surface(health=(slo_health,))
