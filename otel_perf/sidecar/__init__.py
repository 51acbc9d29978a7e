"""The running program: what ``otel-perf run`` and ``otel-perf replay`` assemble.

* ``program``: the :class:`Sidecar` — pipeline, OTLP receivers and the API, with clean
  shutdown;
* ``listeners``: every port a config listens on, checked before anything starts;
* ``first_seen``: the log line that says each service's telemetry arrived;
* ``replay``: recorded OTLP fed through the pipeline on event time.
"""

from otel_perf.sidecar.program import Sidecar

__all__ = ["Sidecar"]
