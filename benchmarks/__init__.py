"""Benchmarks for otel-perf; run one with ``python -m benchmarks.<name>`` (see README.md)."""
