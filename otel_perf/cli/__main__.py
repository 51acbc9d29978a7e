"""``python -m otel_perf.cli``: the same as the ``otel-perf`` command."""

import sys

from otel_perf.cli.commands import main

sys.exit(main())
