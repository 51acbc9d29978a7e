"""The config tree, shaped like the OTel Collector's.

``receivers``, ``processors``, ``exporters`` and ``extensions`` map component
ids (``type`` or ``type/name``) to that type's settings; ``service`` wires them
into pipelines. Each component's settings are validated by its own model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration, Endpoint, Secret


class TLSSettings(ComponentConfig):
    """Server TLS; set ``client_ca_file`` to require client certificates (mTLS)."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None


class AuthSettings(ComponentConfig):
    """Bearer-token check: requests must send ``Authorization: Bearer <token>``."""

    bearer_token: Secret | None = None

    @field_validator("bearer_token")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        # an empty token would match a bare "Bearer " header: refuse it instead
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("bearer_token is empty; remove auth or set a token")
        return value


class GrpcSettings(ComponentConfig):
    endpoint: Endpoint = "127.0.0.1:4317"
    max_recv_msg_size_mib: int = Field(default=16, gt=0, le=1024)
    # 2, not 4: decode is native now, and with fewer threads contending for the GIL the
    # receiver spends less CPU per span (benchmarks.ingest --grpc-workers, issue 18)
    workers: int = Field(default=2, gt=0, le=256)
    tls: TLSSettings | None = None


class HttpSettings(ComponentConfig):
    endpoint: Endpoint = "127.0.0.1:4318"
    max_request_body_size_mib: int = Field(default=20, gt=0, le=1024)
    tls: TLSSettings | None = None


class Protocols(ComponentConfig):
    grpc: GrpcSettings | None = None
    http: HttpSettings | None = None


class OTLPReceiverConfig(ComponentConfig):
    """``receivers.otlp``: OTLP over gRPC and HTTP (protobuf and JSON)."""

    protocols: Protocols = Protocols(grpc=GrpcSettings(), http=HttpSettings())
    auth: AuthSettings | None = None
    max_attribute_value_bytes: int = Field(default=65536, gt=0)
    retry_after: Duration = 1.0
    max_future: Duration = 3600.0  # items timed further ahead of this clock are rejected


class APISettings(ComponentConfig):
    """``extensions.api``: the REST API under /performance/."""

    endpoint: Endpoint = "127.0.0.1:8080"
    auth: AuthSettings | None = None


Scraper = Literal["cpu", "memory", "disk", "filesystem", "network", "process"]


class HostMetricsReceiverConfig(ComponentConfig):
    """``receivers.hostmetrics``: CPU, memory, disk, network of the host or container.

    Also the filesystem holding the store and the sidecar's own process; cgroup-aware, so in
    a container with limits the figures are against the container's limits.
    """

    collection_interval: Duration = 10.0
    scrapers: list[Scraper] = ["cpu", "memory", "disk", "filesystem", "network", "process"]
    cgroup_root: str = "/sys/fs/cgroup"
    service_name: str = Field(default="host", min_length=1)
    filesystem_path: str | None = None  # None: the filesystem holding the store
    max_devices: int = Field(default=64, gt=0)  # disks and network interfaces, each

    @field_validator("collection_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0, e.g. 10s")
        return value


RECEIVER_TYPES: dict[str, type[ComponentConfig]] = {
    "otlp": OTLPReceiverConfig,
    "hostmetrics": HostMetricsReceiverConfig,
}
# the signals each receiver type produces: a pipeline of another signal cannot list it
RECEIVER_SIGNALS: dict[str, frozenset[str]] = {
    "otlp": frozenset({"traces", "metrics", "logs"}),
    "hostmetrics": frozenset({"metrics"}),
}
EXTENSION_TYPES: dict[str, type[ComponentConfig]] = {"api": APISettings}


class PipelineSettings(ComponentConfig):
    receivers: list[str] = Field(min_length=1)
    processors: list[str] = []
    exporters: list[str] = []


class QueueSettings(ComponentConfig):
    """The bounded queue between receivers and processors, counted in items and bytes.

    ``max_size_mib`` counts the requests' protobuf bytes, uncompressed; a queued span is
    resident at ~1.5-3x that (``otel_perf.queue``).
    """

    max_items: int = Field(default=200_000, gt=0)
    max_size_mib: int = Field(default=64, gt=0, le=4096)


class StoreSettings(ComponentConfig):
    path: str = "./otel-perf.db"
    flush_interval: Duration = 10.0
    max_findings: int = Field(default=100_000, gt=0)


class LimitSettings(ComponentConfig):
    """Caps on maps keyed by wire data in the core's own counters."""

    max_services: int = Field(default=1000, gt=0)
    max_routes: int = Field(default=1000, gt=0)


class ServiceSettings(ComponentConfig):
    extensions: list[str] = []
    pipelines: dict[str, PipelineSettings] = {}
    queue: QueueSettings = QueueSettings()
    store: StoreSettings = StoreSettings()
    limits: LimitSettings = LimitSettings()
    tick_interval: Duration = 1.0

    @field_validator("pipelines")
    @classmethod
    def _pipeline_names(cls, value: dict[str, PipelineSettings]) -> dict[str, PipelineSettings]:
        for name in value:
            signal = name.split("/", 1)[0]
            if signal not in ("traces", "metrics", "logs"):
                raise ValueError(
                    f'pipeline "{name}": the name must start with traces, metrics or logs'
                )
        return value


class RawConfig(ComponentConfig):
    """The top level before each component's settings are validated."""

    receivers: dict[str, dict[str, Any] | None] = {}
    processors: dict[str, dict[str, Any] | None] = {}
    exporters: dict[str, dict[str, Any] | None] = {}
    extensions: dict[str, dict[str, Any] | None] = {}
    service: ServiceSettings = ServiceSettings()
