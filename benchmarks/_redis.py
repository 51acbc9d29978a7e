"""A throwaway redis-server on a free loopback port, for benchmarks.cache_ops and the cache
tests (Debian's redis-server, installed by .ci/services.sh; no system service)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from benchmarks._common import free_ports

START_TIMEOUT_S = 10.0


class RedisMissing(RuntimeError):
    """redis-server is not installed."""


@contextmanager
def redis_server() -> Iterator[str]:
    """Start redis-server (no persistence) on a free loopback port; yields its URL.

    Raises:
        RedisMissing: no redis-server binary on PATH.
        RuntimeError: it did not answer PING within 10 s.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisMissing("redis-server is not installed (make services installs it)")
    (port,) = free_ports(1)
    with tempfile.TemporaryDirectory() as workdir:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", workdir]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis(host="127.0.0.1", port=port)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server did not answer PING on port {port}"
                        ) from None
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            client.close()
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
