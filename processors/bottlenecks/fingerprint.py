"""Moved to :mod:`otel_perf.fingerprint` (shared by the core's operation names); kept so
existing imports keep working."""

from otel_perf.fingerprint import (
    KEYWORDS,
    MAX_STATEMENT_CHARS,
    db_operation,
    db_statement,
    db_system,
    fingerprint,
    fingerprint_id,
    http_call_key,
    template_path,
)

__all__ = [
    "KEYWORDS",
    "MAX_STATEMENT_CHARS",
    "db_operation",
    "db_statement",
    "db_system",
    "fingerprint",
    "fingerprint_id",
    "http_call_key",
    "template_path",
]
