"""The OTLP/JSON specifics: hex ids, lowerCamelCase and integer enums, both ways."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from otel_perf.decode.parse import REQUEST_TYPES
from otel_perf.decode.problems import DecodeError

# Where ids sit in each OTLP JSON document: path of list/object keys to walk.
_JSON_ID_PATHS: dict[str, list[tuple[str, ...]]] = {
    "traces": [
        ("resourceSpans", "scopeSpans", "spans"),
        ("resourceSpans", "scopeSpans", "spans", "links"),
    ],
    "logs": [("resourceLogs", "scopeLogs", "logRecords")],
    "metrics": [
        ("resourceMetrics", "scopeMetrics", "metrics", kind, "dataPoints", "exemplars")
        for kind in ("gauge", "sum", "histogram", "exponentialHistogram")
    ],
}
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def parse_json(signal: str, body: bytes | str | dict[str, Any]) -> Message:
    """Parse an OTLP JSON request (hex ids, lowerCamelCase, integer enums)."""
    if isinstance(body, dict):
        document = body
    else:
        try:
            document = json.loads(body)
        # ValueError also covers numbers past Python's 4300-digit limit (found by fuzzing)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
            raise DecodeError(f"cannot decode OTLP {signal} JSON: {exc}") from None
        except RecursionError:
            raise DecodeError(f"cannot decode OTLP {signal} JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise DecodeError(f"OTLP {signal} JSON must be an object, got {type(document).__name__}")
    for path in _JSON_ID_PATHS[signal]:
        _hex_ids_to_base64(document, path, "")
    message = REQUEST_TYPES[signal]()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise DecodeError(f"invalid OTLP {signal} JSON: {exc}") from None
    return message


def _hex_ids_to_base64(node: Any, path: tuple[str, ...], where: str) -> None:
    """Rewrite OTLP's hex ids in place into the base64 that json_format expects."""
    if not path:
        items = node if isinstance(node, list) else [node]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            for key in _ID_FIELDS:
                value = item.get(key)
                if isinstance(value, str) and value:
                    try:
                        item[key] = base64.b64encode(bytes.fromhex(value)).decode()
                    except ValueError:
                        raise DecodeError(
                            f"{where}[{i}].{key}: expected a hex string, got {value[:40]!r}"
                        ) from None
        return
    head, rest = path[0], path[1:]
    items = node if isinstance(node, list) else [node]
    for i, item in enumerate(items):
        if isinstance(item, dict) and head in item:
            prefix = f"{where}[{i}]" if isinstance(node, list) else where
            _hex_ids_to_base64(item[head], rest, f"{prefix}.{head}".lstrip("."))


def message_to_json(message: Message) -> dict[str, Any]:
    """Render an OTLP message as OTLP JSON (hex ids), as the Collector's file exporter does."""
    document: dict[str, Any] = json_format.MessageToDict(message)
    for paths in _JSON_ID_PATHS.values():
        for path in paths:
            _base64_ids_to_hex(document, path)
    return document


def _base64_ids_to_hex(node: Any, path: tuple[str, ...]) -> None:
    items = node if isinstance(node, list) else [node]
    if not path:
        for item in items:
            if isinstance(item, dict):
                for key in _ID_FIELDS:
                    if isinstance(item.get(key), str):
                        try:
                            item[key] = base64.b64decode(item[key]).hex()
                        except binascii.Error:
                            pass
        return
    for item in items:
        if isinstance(item, dict) and path[0] in item:
            _base64_ids_to_hex(item[path[0]], path[1:])
