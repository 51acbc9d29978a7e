"""The embedded default config and the ``otlp`` exporter it gains from the environment.

With no ``--config``, findings go out of the box: the default declares the ``prometheus``
exporter (127.0.0.1:9464), and when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its
``_LOGS_`` / ``_METRICS_`` variant) is set in otel-perf's own environment an ``otlp``
exporter is added that sends findings (events) and metrics there — unless that endpoint is
otel-perf's own receiver, a loop this refuses with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml

from otel_perf.config.models import OTLPReceiverConfig
from otel_perf.config.types import split_endpoint

log = logging.getLogger("otel_perf.config")

#: what otel-perf sends over OTLP, and the variable that names each one's endpoint
SIGNAL_VARIABLES = {
    "events": "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "metrics": "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
}
GENERAL_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_VARIABLE = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""}


def otlp_targets(environ: Mapping[str, str]) -> dict[str, str]:
    """Per signal otel-perf exports (``events``, ``metrics``), the endpoint the standard
    variables give it; a signal without one is left out."""
    out: dict[str, str] = {}
    for signal, variable in SIGNAL_VARIABLES.items():
        endpoint = environ.get(variable) or environ.get(GENERAL_VARIABLE)
        if endpoint:
            out[signal] = endpoint
    if not out and environ.get(TRACES_VARIABLE):
        log.info(
            "%s is set, but otel-perf exports events and metrics, not traces: set %s to "
            "send its findings over OTLP",
            TRACES_VARIABLE,
            GENERAL_VARIABLE,
        )
    return out


def with_otlp(text: str, signals: set[str], protocol: str | None = None) -> str:
    """The default config ``text`` with an ``otlp`` exporter for ``signals`` in every
    pipeline that has processors. The exporter reads its endpoint, headers and TLS options
    from the standard variables itself; ``protocol`` is OTEL_EXPORTER_OTLP_PROTOCOL's."""
    data: dict[str, Any] = yaml.safe_load(text)
    exporter: dict[str, Any] = {"events": "events" in signals, "metrics": "metrics" in signals}
    if protocol:
        exporter["protocol"] = protocol
    data["exporters"]["otlp"] = exporter
    for pipeline in data["service"]["pipelines"].values():
        if pipeline.get("processors"):
            pipeline["exporters"] = [*pipeline.get("exporters", []), "otlp"]
    return yaml.safe_dump(data, sort_keys=False)


def points_at(endpoint: str, receivers: Mapping[str, Any]) -> str | None:
    """The OTLP receiver endpoint ``endpoint`` (a URL or ``host:port``) would reach, if any."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    try:
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    for settings in receivers.values():
        if not isinstance(settings, OTLPReceiverConfig):
            continue
        for proto in (settings.protocols.grpc, settings.protocols.http):
            if proto is None:
                continue
            own_host, own_port = split_endpoint(proto.endpoint)
            same_host = host == own_host.lower() or (host in _LOOPBACK and own_host in _LOOPBACK)
            if port == own_port and same_host:
                return proto.endpoint
    return None
