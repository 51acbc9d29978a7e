"""Exporters: one package per exporter, imported as otel_perf.exporters.<name>.

Each package holds ``config.py`` (its settings model), ``exporter.py`` (the
runtime, with the ``FACTORY`` describing the type) and a README.md. Built-in
types register themselves through :func:`register_builtins`.
"""

from otel_perf.component import register_exporter


def register_builtins() -> None:
    """Register the built-in exporter types (``alertmanager``, ``jsonl``, ``otlp``, ...)."""
    # imported here so that importing otel_perf.exporters stays cheap until the
    # registry is actually needed
    from otel_perf.exporters.aggregates import FACTORY as AGGREGATES
    from otel_perf.exporters.alertmanager import FACTORY as ALERTMANAGER
    from otel_perf.exporters.jsonl import FACTORY as JSONL
    from otel_perf.exporters.otlp import FACTORY as OTLP
    from otel_perf.exporters.prometheus import FACTORY as PROMETHEUS

    for factory in (ALERTMANAGER, JSONL, OTLP, PROMETHEUS, AGGREGATES):
        register_exporter(factory)
