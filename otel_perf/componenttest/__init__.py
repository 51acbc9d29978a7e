"""Contract checks every component runs, for built-in and third-party components alike.

Like the Collector's ``componenttest``: a component author calls these from a test with
the component's :class:`~otel_perf.component.Factory` and its ``testdata/`` folder:

- :func:`load_config`: ``testdata/config.yaml``, validated by the factory's config model.
- :func:`check_processor_lifecycle` / :func:`check_exporter_lifecycle`: create, shutdown
  without start, start-consume-shutdown, shutdown twice, input not mutated, same input
  same output.
- :func:`check_state_round_trip`: a restart half-way through a golden case (flush, a new
  instance on the same :class:`~otel_perf.store.Store`) gives the same snapshot and the
  same next findings as no restart.
- :func:`check_golden`: each ``testdata/<case>/input.jsonl`` run through the component
  gives ``testdata/<case>/findings.json`` (processors) or ``output.json`` (exporters);
  ``OTEL_PERF_UPDATE_GOLDEN=1`` rewrites them instead.

See ``docs/writing-a-component.md`` for the file formats.
"""

from otel_perf.componenttest.checks import (
    check_exporter_lifecycle,
    check_processor_lifecycle,
    check_state_round_trip,
)
from otel_perf.componenttest.configs import (
    CONFIG_FILE,
    TestdataError,
    load_config,
    testdata_dir,
)
from otel_perf.componenttest.golden import (
    UPDATE_ENV,
    check_golden,
    golden_cases,
    normalise_finding,
)

__all__ = [
    "CONFIG_FILE",
    "UPDATE_ENV",
    "TestdataError",
    "check_exporter_lifecycle",
    "check_golden",
    "check_processor_lifecycle",
    "check_state_round_trip",
    "golden_cases",
    "load_config",
    "normalise_finding",
    "testdata_dir",
]
