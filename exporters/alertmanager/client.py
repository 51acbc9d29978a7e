"""One ``POST /api/v2/alerts``.

httpx posts it; a failure worth another try is :class:`Retryable`, so the exporter's
:class:`~otel_perf.component.sender.QueueSender` retries it with its backoff.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from otel_perf.component.sender import Retryable

#: statuses worth another try; any other 4xx means the alerts themselves were refused
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_ERROR_BODY = 500


class PostError(Exception):
    """A post Alertmanager did not accept; ``retryable`` when trying again may help."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class RetryablePostError(PostError, Retryable):
    """A post worth trying again: no connection, a timeout, 408, 425, 429 or 5xx."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


def post_error(message: str, retryable: bool) -> PostError:
    return RetryablePostError(message) if retryable else PostError(message)


def post_alerts(
    url: str, alerts: list[dict[str, Any]], headers: dict[str, str], timeout_s: float
) -> None:
    """Post ``alerts`` as one JSON array.

    Raises:
        PostError: with the status and Alertmanager's message (``400 invalid label
            set: ...``), or the connection error.
    """
    body = json.dumps(alerts, separators=(",", ":")).encode()
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except (httpx.TransportError, OSError) as exc:
        raise RetryablePostError(f"{url}: {str(exc) or type(exc).__name__}") from None
    if not response.is_success:
        detail = response.content[:MAX_ERROR_BODY].decode("utf-8", "replace").strip()
        status = response.status_code
        raise post_error(f"{url}: HTTP {status} {detail}", status in RETRYABLE_STATUSES)
