"""Running the cache's coroutines from synchronous code (``@cached`` on a plain function).

The coroutines run on one daemon thread with its own event loop, so a synchronous caller
needs no loop of its own and level-2 connections are reused between calls. A call made
from that thread itself (a cached function's loader calling another cached function) runs
on a short-lived loop in a helper thread instead of waiting on its own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _bridge() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="otel_perf.cache-sync", daemon=True
            )
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code and return its result."""
    loop = _bridge()
    if threading.current_thread() is _thread:
        return _run_in_helper(coro)
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def _run_in_helper(coro: Coroutine[Any, Any, T]) -> T:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    helper = threading.Thread(target=target, name="otel_perf.cache-sync-nested")
    helper.start()
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
