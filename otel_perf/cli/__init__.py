"""The ``otel-perf`` command: :mod:`~otel_perf.cli.commands` parses and dispatches, ``args`` and
``http`` are the helpers every command (the core's and each component's ``cli.py``) is built
with, ``readers`` prints the API's answers, ``tables`` and ``format`` lay them out.

A plain ``pip install otel-perf`` is the app library only; there ``main`` says which extra
the command needs instead of failing with a traceback."""

from __future__ import annotations

import sys

try:
    from otel_perf.cli.commands import main as main
except ModuleNotFoundError as exc:  # the sidecar's dependencies are not installed
    if (exc.name or "otel_perf").startswith("otel_perf"):
        raise  # our own module missing is a bug, not an install choice
    _missing = exc.name

    def main(argv: list[str] | None = None) -> int:
        """Say that the sidecar's dependencies are missing; exit status 2."""
        print(
            f"otel-perf: the sidecar needs its dependencies (no module {_missing!r}): "
            "pip install 'otel-perf[sidecar]'",
            file=sys.stderr,
        )
        return 2
