"""What the slo processor adds to health and recommendations: its burn-rate and breach
check, its rule."""

from otel_perf.component import Surface
from otel_perf.processors.slo.health import slo_health
from otel_perf.processors.slo.recommend import RULES, evaluated_ns

SURFACE = Surface(health=(slo_health,), recommendations=RULES, evaluated_ns=evaluated_ns)
