"""Anomaly detection on every series otel-perf sees."""
