"""Settings of the ``alertmanager`` exporter."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration, Secret
from otel_perf.findings import Kind, Severity

#: Prometheus/Alertmanager label names; anything else is refused with a 400
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

DEFAULT_KINDS = (
    Kind.BURN_RATE_ALERT,
    Kind.SLO_VIOLATION,
    Kind.REGRESSION_DETECTED,
    Kind.ANOMALY_DETECTED,
    Kind.CAPACITY_FORECAST,
)


def check_http_url(value: str, example: str) -> str:
    """``value`` if it is an absolute http(s) URL with a host, else a ValueError saying so."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f'must be an http(s) URL like "{example}", got "{value}"')
    return value.rstrip("/")


class AlertmanagerConfig(ComponentConfig):
    """``exporters.alertmanager``: findings as alerts on Alertmanager's v2 API.

    Attributes:
        endpoint: Alertmanager's base URL (``http://127.0.0.1:9093``, with its
            ``--web.route-prefix`` if one is set); alerts go to ``/api/v2/alerts``.
        kinds: finding kinds sent as alerts; the others are ignored.
        min_severity: findings below this severity open no alert.
        min_severity_by_kind: per-kind overrides of ``min_severity``.
        resend_interval: firing alerts are re-sent this often; each carries
            ``endsAt = now + 4 × resend_interval`` (as Prometheus does), so an
            alert that stops being re-sent resolves by itself.
        expire_after: per kind, resolve an alert whose finding has had no update
            for this long (for kinds whose processor never resolves, e.g. regressions).
        timeout: budget of one HTTP request, of ``flush()`` and of shutdown.
        max_retries: retries of one failed post (connection errors, 5xx, 429).
        initial_backoff: wait before the first retry; doubled each retry.
        max_backoff: the longest wait between retries.
        max_queue: findings waiting for the sender thread; past it the oldest are
            dropped (counted).
        max_active_alerts: alerts held (firing or waiting to be sent resolved);
            a new episode past it is dropped (counted).
        headers: sent with every request (e.g. a proxy's API key); never printed.
        bearer_token: sent as ``Authorization: Bearer <token>``; never printed.
        generator_url: otel-perf's API base URL; each alert links to its findings
            there (``<base>/performance/findings?kind=..&service=..``). Unset: no link.
        labels: extra labels on every alert (e.g. ``cluster: prod``); they never
            override the alert's own labels.
        group_by_incident: when an ``incidents`` processor's findings reach this
            exporter, findings that belong to an open incident page once, as the
            incident's alert listing them, not each on its own.
        group_wait: grouped by incident, how long a new alert waits for its incident
            before it pages alone (the incidents processor runs a tick behind).
    """

    endpoint: str
    kinds: tuple[Kind, ...] = DEFAULT_KINDS
    min_severity: Severity = Severity.WARNING
    min_severity_by_kind: dict[Kind, Severity] = {}
    resend_interval: Duration = 60.0
    expire_after: dict[Kind, Duration] = {Kind.REGRESSION_DETECTED: 86400.0}
    timeout: Duration = 10.0
    max_retries: int = Field(default=5, ge=0, le=100)
    initial_backoff: Duration = 1.0
    max_backoff: Duration = 30.0
    max_queue: int = Field(default=1000, gt=0)
    max_active_alerts: int = Field(default=1000, gt=0)
    headers: dict[str, Secret] = {}
    bearer_token: Secret | None = None
    generator_url: str | None = None
    labels: dict[str, str] = {}
    group_by_incident: bool = True
    group_wait: Duration = 30.0

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_http_url(value, "http://127.0.0.1:9093")

    @field_validator("generator_url")
    @classmethod
    def _generator_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value, "http://127.0.0.1:8080")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not LABEL_NAME.match(name)]
        if bad:
            raise ValueError(f"label names must match [a-zA-Z_][a-zA-Z0-9_]*, got {bad}")
        return value

    @model_validator(mode="after")
    def _check(self) -> AlertmanagerConfig:
        for name in ("resend_interval", "timeout", "initial_backoff", "max_backoff", "group_wait"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive duration")
        if self.max_backoff < self.initial_backoff:
            raise ValueError("max_backoff must be at least initial_backoff")
        if not self.kinds:
            raise ValueError("kinds is empty: nothing would be sent")
        zero = [kind.value for kind, ttl in self.expire_after.items() if ttl <= 0]
        if zero:
            raise ValueError(f"expire_after must be positive durations, got 0 for {zero}")
        return self

    def threshold(self, kind: Kind) -> Severity:
        """The least severity that opens an alert for ``kind``."""
        return self.min_severity_by_kind.get(kind, self.min_severity)

    @property
    def alerts_url(self) -> str:
        return self.endpoint + "/api/v2/alerts"

    def request_headers(self) -> dict[str, str]:
        """Headers of every post, secrets revealed (never log the result)."""
        out = {name: secret.get_secret_value() for name, secret in self.headers.items()}
        if self.bearer_token is not None:
            out["Authorization"] = "Bearer " + self.bearer_token.get_secret_value()
        out["Content-Type"] = "application/json"
        return out
