"""Forwarding cache control requests to the apps configured under ``processors.cache.apps``.

Only configured endpoints are called (they are the allow-list). Redirects are not
followed (a redirect could lead elsewhere with the token), environment proxies are not
used, and at most ``MAX_REPLY_BYTES`` of an app's answer are read.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
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


def post(target: AppTarget, action: str, body: dict[str, Any]) -> Reply:
    """POST ``body`` to ``{endpoint}/{action}`` with the app's token (blocking)."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {target.token.get_secret_value()}",
    }
    url = f"{target.endpoint}/{action}"
    # no environment proxies; a 3xx is reported, not followed (httpx's default)
    try:
        with httpx.Client(trust_env=False, timeout=target.timeout) as client:
            with client.stream("POST", url, content=json.dumps(body), headers=headers) as reply:
                return Reply(reply.status_code, _parse(_read_at_most(reply, MAX_REPLY_BYTES + 1)))
    except (httpx.HTTPError, OSError) as exc:
        return Reply(None, error=f"cannot reach {target.endpoint}: {exc}")


def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The body's first ``limit`` bytes: an app's huge answer is not read to the end."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


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
