"""The ``otel-perf`` command: :mod:`~otel_perf.cli.main` parses and dispatches, ``args`` and
``http`` are the helpers every command (the core's and each component's ``cli.py``) is built
with, ``readers`` prints the API's answers, ``tables`` and ``format`` lay them out."""

from otel_perf.cli.main import main as main
