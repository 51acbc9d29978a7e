"""Every port a config listens on, checked before anything starts.

A clash (another otel-perf, another program, or two settings naming one port) stops the
start before any listener is opened or logs "listening", with a message that names the port
and the setting to change. The check binds and closes a probe socket per endpoint; the real
listeners still fail loudly if a port is taken between the check and their bind.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_perf.component import component_type
from otel_perf.config import Config
from otel_perf.config.loader import EMBEDDED
from otel_perf.config.models import APISettings, OTLPReceiverConfig
from otel_perf.config.types import split_endpoint

#: exporter types that listen, and the setting holding their ``host:port``
LISTENING_EXPORTERS = {"prometheus": "endpoint"}
#: where the otlp exporter sends when its config names no endpoint, first set wins
OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
#: the environment variables the embedded default config reads each endpoint from
EMBEDDED_VARIABLES = {
    "receivers.otlp.protocols.grpc.endpoint": "OTEL_PERF_GRPC_ENDPOINT",
    "receivers.otlp.protocols.http.endpoint": "OTEL_PERF_HTTP_ENDPOINT",
    "extensions.api.endpoint": "OTEL_PERF_API_ENDPOINT",
    "exporters.prometheus.endpoint": "OTEL_PERF_PROMETHEUS_ENDPOINT",
}


class PortClash(OSError):
    """One or more configured ports cannot be listened on; the message names each one
    and the setting to change (one line per port)."""


@dataclass(frozen=True)
class Listener:
    """One listening endpoint and the config key it comes from."""

    key: str
    endpoint: str

    @property
    def port(self) -> int:
        return split_endpoint(self.endpoint)[1]


def listeners(config: Config) -> list[Listener]:
    """The endpoints ``config`` listens on: the used OTLP receivers' protocols, the API
    extension when enabled, and listening exporters used by a pipeline."""
    out: list[Listener] = []
    pipelines = config.service.pipelines.values()
    receivers = dict.fromkeys(r for p in pipelines for r in p.receivers)
    for rid in receivers:
        settings = config.receivers.get(rid)
        if isinstance(settings, OTLPReceiverConfig):
            for protocol in ("grpc", "http"):
                proto = getattr(settings.protocols, protocol)
                if proto is not None:
                    key = f"receivers.{rid}.protocols.{protocol}.endpoint"
                    out.append(Listener(key, proto.endpoint))
    api = config.extensions.get("api")
    if "api" in config.service.extensions and isinstance(api, APISettings):
        out.append(Listener("extensions.api.endpoint", api.endpoint))
    for eid in dict.fromkeys(e for p in pipelines for e in p.exporters):
        setting = LISTENING_EXPORTERS.get(component_type(eid))
        endpoint = getattr(config.exporters.get(eid), setting or "", None)
        if setting and isinstance(endpoint, str):
            out.append(Listener(f"exporters.{eid}.{setting}", endpoint))
    return out


def check_free(config: Config) -> None:
    """Raise :class:`PortClash` naming every configured port that cannot be listened on.

    Port 0 (any free port) is never a clash.
    """
    problems: list[str] = []
    seen: dict[int, Listener] = {}
    for listener in listeners(config):
        if listener.port == 0:
            continue
        first = seen.setdefault(listener.port, listener)
        if first is not listener:
            problems.append(
                f"port {listener.port} is set twice, in {first.key} and {listener.key}: "
                f"change {_where(listener.key, config)}"
            )
            continue
        reason = _probe(listener.endpoint)
        if reason:
            problems.append(
                f"cannot listen on {listener.endpoint} ({listener.key}): {reason}; "
                f"change {_where(listener.key, config)}"
            )
    if len(problems) == 1:
        raise PortClash(problems[0])
    if problems:
        raise PortClash("\n".join([f"{len(problems)} ports cannot be used:", *problems]))


def _where(key: str, config: Config) -> str:
    variable = EMBEDDED_VARIABLES.get(key) if config.source == EMBEDDED else None
    return f"{key} (or set {variable})" if variable else key


def _probe(endpoint: str) -> str:
    """Why ``endpoint`` cannot be bound, or "" when it can."""
    host, port = split_endpoint(endpoint)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host}: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # as the real servers do: a port left in TIME_WAIT by a previous run is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
            probe.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} is in use (by another otel-perf, or another program)"
            return exc.strerror or str(exc)
    return ""


def url_host(host: str) -> str:
    """A host to put in a URL: a wildcard address is reached on loopback; IPv6 in brackets."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def urls(config: Config, ports: Any, exporters: Mapping[str, Any]) -> list[str]:
    """Start-up lines for people: where the API, the dashboard and the scrape endpoints are,
    and where findings are exported."""
    lines: list[str] = []
    api = config.extensions.get("api")
    if ports.api and isinstance(api, APISettings):
        base = f"http://{url_host(split_endpoint(api.endpoint)[0])}:{ports.api}"
        lines.append(f"dashboard: {base}/dashboard")
        lines.append(f"API: {base}/performance/ (described at {base}/performance/openapi.json)")
    for eid, exporter in exporters.items():
        address = getattr(exporter, "address", None) if eid in _listening(config) else None
        if address:
            host, port = address
            lines.append(
                f"exporter {eid}: Prometheus scrape at http://{url_host(host)}:{port}/metrics"
            )
        else:
            lines.append(_destination(eid, config.exporters.get(eid)))
    if not exporters:
        lines.append(
            "no exporters: findings stay in the API and dashboard (declare one under "
            "exporters: prometheus, otlp, alertmanager or jsonl)"
        )
    return lines


def _listening(config: Config) -> set[str]:
    return {eid for eid in config.exporters if component_type(eid) in LISTENING_EXPORTERS}


def _destination(eid: str, settings: Any) -> str:
    target = getattr(settings, "endpoint", None) or getattr(settings, "path", None)
    if target is None and component_type(eid) == "otlp":  # the standard variables apply
        target = next(
            (os.environ[v] for v in OTLP_VARIABLES if os.environ.get(v)), "localhost:4317"
        )
    return f"exporter {eid}: findings go to {target}" if target else f"exporter {eid}"
