"""Settings of the ``instrumentation`` processor."""

from __future__ import annotations

from pydantic import Field

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration


class InstrumentationConfig(ComponentConfig):
    """``processors.instrumentation``.

    Attributes:
        window: event time a service's traces must carry server spans without a single
            client, DB or messaging span before a finding says so.
        min_self_time: the p95 time of its server spans (all of it self time when nothing
            leaves the process) at or above which that gap is worth a finding.
        min_server_spans: server spans in the window needed to judge.
        max_services: services tracked; records of further services are counted only.
        quiet_period: an unchanged finding is announced again after this long.
        save_interval: event time between writes of the state to the store.
    """

    window: Duration = 600.0
    min_self_time: Duration = 0.1
    min_server_spans: int = Field(default=20, ge=1)
    max_services: int = Field(default=1000, gt=0)
    quiet_period: Duration = 86_400.0
    save_interval: Duration = 10.0
