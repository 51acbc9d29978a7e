"""One ``POST /api/v2/alerts``, and the retry policy around it.

httpx posts it; the backoff and the retry loop are the components' shared ones
(``otel_perf.component.sender``), waiting on an event so that shutdown cuts them short.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, cast

import httpx

from otel_perf.component.sender import Backoff, Retryable, send_with_retries

#: statuses worth another try; any other 4xx means the alerts themselves were refused
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_ERROR_BODY = 500


class PostError(Exception):
    """A post Alertmanager did not accept; ``retryable`` when trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


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
        raise PostError(f"{url}: {str(exc) or type(exc).__name__}", retryable=True) from None
    if not response.is_success:
        detail = response.content[:MAX_ERROR_BODY].decode("utf-8", "replace").strip()
        status = response.status_code
        raise PostError(f"{url}: HTTP {status} {detail}", status in RETRYABLE_STATUSES)


def backoff_s(attempt: int, initial_s: float, max_s: float) -> float:
    """Wait before retry ``attempt`` (1-based): ``initial · 2^(attempt−1)``, capped at ``max_s``."""
    return Backoff(initial_s, max(initial_s, max_s)).delay_s(attempt)


class _Again(Retryable):
    """A retryable :class:`PostError`, carried through the shared retry loop."""

    def __init__(self, error: PostError) -> None:
        super().__init__(str(error))
        self.error = error


def _raising_retryable(send: Callable[[], None]) -> Callable[[], None]:
    def attempt() -> None:
        try:
            send()
        except PostError as exc:
            if exc.retryable:
                raise _Again(exc) from None
            raise

    return attempt


def with_retries(
    send: Callable[[], None],
    max_retries: int,
    initial_s: float,
    max_s: float,
    stop: threading.Event,
    on_retry: Callable[[PostError], None],
) -> None:
    """Call ``send`` until it succeeds, fails for good or ``stop`` is set (the components'
    :func:`~otel_perf.component.sender.send_with_retries`, waiting on ``stop``).

    Raises:
        PostError: the last error, when it was not retryable or retries ran out.
    """
    try:
        send_with_retries(
            _raising_retryable(send),
            max_retries + 1,
            Backoff(initial_s, max(initial_s, max_s)),
            stop.wait,
            stop.is_set,
            lambda again: on_retry(cast(_Again, again).error),
        )
    except _Again as again:
        raise again.error from None
