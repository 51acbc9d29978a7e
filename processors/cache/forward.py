"""Forwarding cache control requests to the apps configured under ``processors.cache.apps``.

Only configured endpoints are called (they are the allow-list). Redirects are not
followed (a redirect could lead elsewhere with the token), environment proxies are not
used, and at most ``MAX_REPLY_BYTES`` of an app's answer are read.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from otel_perf.processors.cache.config import AppTarget

MAX_REPLY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Reply:
    """What one app answered: its status and JSON body, or why it could not be reached."""

    status: int | None
    body: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def view(self) -> dict[str, Any]:
        if self.status is None:
            return {"status": None, "error": self.error}
        return {"status": self.status, "body": self.body}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx reaches the caller as an HTTPError: reported, not followed


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def post(target: AppTarget, action: str, body: dict[str, Any]) -> Reply:
    """POST ``body`` to ``{endpoint}/{action}`` with the app's token (blocking)."""
    request = urllib.request.Request(
        f"{target.endpoint}/{action}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {target.token.get_secret_value()}",
        },
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=target.timeout) as response:
            return Reply(int(response.status), _parse(response.read(MAX_REPLY_BYTES + 1)))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, _parse(exc.read(MAX_REPLY_BYTES + 1)))
    except urllib.error.URLError as exc:
        return Reply(None, error=f"cannot reach {target.endpoint}: {exc.reason}")
    except (TimeoutError, OSError) as exc:
        return Reply(None, error=f"cannot reach {target.endpoint}: {exc}")


def _parse(raw: bytes) -> Any:
    if len(raw) > MAX_REPLY_BYTES:
        return {"error": f"the app's answer is over {MAX_REPLY_BYTES} bytes (not shown)"}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw[:500].decode(errors="replace")


async def forward(targets: list[AppTarget], action: str, body: dict[str, Any]) -> dict[str, Reply]:
    """Send ``body`` to every target at once; each app's reply by name."""
    replies = await asyncio.gather(
        *(run_in_threadpool(post, target, action, body) for target in targets)
    )
    return {target.name: reply for target, reply in zip(targets, replies, strict=True)}
