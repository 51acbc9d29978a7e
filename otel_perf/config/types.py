"""Value types shared by config models: durations, endpoints, sizes, secrets."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, SecretStr, ValidationInfo

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|d|w)\s*$")
_UNIT_S = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def parse_duration_s(value: Any) -> float:
    """``"200ms"`` -> 0.2; plain numbers are seconds.

    Raises:
        ValueError: with the message config errors show, e.g.
            ``expected a duration like "200ms", got "fast"``.
    """
    if isinstance(value, bool):
        raise ValueError(f'expected a duration like "200ms", got {value!r}')
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a non-negative duration, got {value}")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_S[match.group(2)]
        raise ValueError(f'expected a duration like "200ms", got "{value}"')
    raise ValueError(f'expected a duration like "200ms", got {type(value).__name__}')


def format_duration(seconds: float) -> str:
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_S[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds * 1000:g}ms"


#: the validation context key the config loader sets: values come from a person's YAML
FROM_YAML = "otel_perf.from_yaml"


def _duration(value: Any, info: ValidationInfo) -> float:
    """In YAML a duration needs its unit (``latency: {p99: 300}`` is not 5 minutes); Python
    callers may pass seconds. Zero needs no unit."""
    context = info.context if isinstance(info.context, dict) else {}
    bare = isinstance(value, int | float) and not isinstance(value, bool)
    if bare and value != 0 and context.get(FROM_YAML):
        raise ValueError(
            f'a duration needs a unit: write "{value:g}ms" or "{value:g}s" (got the bare '
            f"number {value:g})"
        )
    return parse_duration_s(value)


#: seconds as float, written in YAML as "10s", "200ms", "30d"
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
]


def parse_endpoint(value: Any) -> str:
    """``host:port`` with a numeric port; ``[::1]:4317`` for IPv6."""
    if not isinstance(value, str):
        raise ValueError(f'expected "host:port" like "127.0.0.1:4317", got {value!r}')
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'expected "host:port" like "127.0.0.1:4317", got "{value}"')
    return value


Endpoint = Annotated[str, BeforeValidator(parse_endpoint)]


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def _redact(secret: SecretStr | None) -> str | None:
    return None if secret is None else ("<redacted>" if secret.get_secret_value() else "")


#: prints as <redacted>; read with .get_secret_value()
Secret = Annotated[SecretStr, PlainSerializer(_redact, return_type=str | None, when_used="always")]
