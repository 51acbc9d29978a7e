"""Processors: one package per processor, imported as otel_perf.processors.<name>.

Each package holds ``config.py`` (its settings model), ``processor.py`` (the
stateful shell), pure modules for the math, and a README.md. Built-in types
register themselves through :func:`register_builtins`.
"""


def register_builtins() -> None:
    """Register built-in processor types (none yet: later issues add them)."""
