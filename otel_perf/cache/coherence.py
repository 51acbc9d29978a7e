"""Level-1 coherence across processes: Redis pub/sub on ``{prefix}:{name}:invalidations``.

Every write and removal at level 2 publishes what changed (``{"o": origin, "keys": [...],
"tags": [...], "patterns": [...]}``); each process with level 2 subscribes (started with its
first level-2 operation) and drops its own level-1 copies of what another process changed.
Pub/sub is at-most-once: a message reaches a connected subscriber within a round trip, but
one sent while the subscriber is reconnecting is lost, so after any reconnect the whole
level 1 is dropped (it refills from level 2).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from otel_perf.cache.remote import Remote

logger = logging.getLogger("otel_perf.cache")
SUBSCRIBE_TIMEOUT_S = 5.0
POLL_S = 1.0
RETRY_S = 0.5

Apply = Callable[[list[str], list[str], list[str]], None]  # keys, tags, patterns


class Listener:
    """Applies other processes' invalidations to this process's level 1."""

    def __init__(
        self,
        remote: Remote,
        apply: Apply,
        reset: Callable[[], None],
        on_loop_end: Callable[[], Awaitable[None]],
    ) -> None:
        self.remote = remote
        self.apply = apply
        self.reset = reset
        self.on_loop_end = on_loop_end
        self.received = 0
        self.bad_messages = 0
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Subscribe, wait for the confirmation, then read in a background task."""
        pubsub = self.remote.client.pubsub()
        self._pubsub = pubsub
        await pubsub.subscribe(self.remote.channel)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIBE_TIMEOUT_S
        while loop.time() < deadline:
            message = await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_S)
            if message is not None and _text(message["type"]) == "subscribe":
                break
        assert pubsub.connection is not None  # subscribe() connected it
        pubsub.connection.register_connect_callback(self._reconnected)
        self._task = asyncio.create_task(self._run(), name=f"otel_perf.cache:{self.remote.name}")

    async def aclose(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._pubsub is not None:
            await self._pubsub.aclose()

    async def _reconnected(self, connection: Any) -> None:
        logger.warning("otel_perf.cache %r: pub/sub reconnected; level 1 dropped", self.remote.name)
        self.reset()

    async def _run(self) -> None:
        assert self._pubsub is not None
        try:
            while True:
                try:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_S
                    )
                except (RedisError, OSError) as exc:
                    logger.warning("otel_perf.cache %r: pub/sub: %s", self.remote.name, exc)
                    self.reset()
                    await asyncio.sleep(RETRY_S)
                    continue
                if message is not None and _text(message["type"]) == "message":
                    self.handle(message["data"])
        except asyncio.CancelledError:
            if not self._closing:  # the event loop is ending (asyncio.run): close with it
                await self.on_loop_end()
            raise

    def handle(self, data: bytes | str) -> None:
        """Apply one published message unless this process sent it."""
        try:
            message = json.loads(data)
            if message.get("o") == self.remote.origin:
                return
            keys, tags, patterns = (
                _strings(message, field) for field in ("keys", "tags", "patterns")
            )
        except (ValueError, AttributeError, TypeError):
            self.bad_messages += 1
            return
        self.received += 1
        self.apply(keys, tags, patterns)


def _strings(message: dict[str, Any], field: str) -> list[str]:
    values = message.get(field) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{field} must be a list of strings")
    return values


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
