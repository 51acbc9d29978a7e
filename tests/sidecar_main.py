"""Run the otel-perf CLI with the test-only components registered (for e2e tests)."""

import sys

from support import register_test_components

from otel_perf.cli.commands import main

if __name__ == "__main__":
    register_test_components()
    sys.exit(main())
