"""Run an ASGI app under uvicorn on a background thread (OTLP/HTTP and the API)."""

from __future__ import annotations

import asyncio
import math
import ssl
import threading
import time
from typing import Any

import uvicorn

from otel_perf.runtime.threadnames import name_native_thread


def _tls_options(
    certfile: str | None, keyfile: str | None, client_ca_file: str | None
) -> dict[str, Any]:
    """uvicorn's TLS settings: a certificate, and client certificates required with a CA."""
    options: dict[str, Any] = {}
    if certfile:
        options.update(ssl_certfile=certfile, ssl_keyfile=keyfile)
    if client_ca_file:
        options.update(ssl_ca_certs=client_ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


def _config(app: Any, host: str, port: int, tls: dict[str, Any]) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        log_config=None,  # leave the host process's logging setup alone
        access_log=False,
        timeout_graceful_shutdown=5,
        **tls,
    )


class ServerThread:
    """One uvicorn server on its own thread and event loop.

    ``start`` returns once the socket is bound (so port 0 resolves to the real
    port) or raises the error that stopped it from binding. ``await serve()``
    runs the same server on the caller's event loop instead. uvicorn is given
    no logging config, so the host process's logging setup is left alone.
    """

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        name: str,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
        client_ca_file: str | None = None,
    ) -> None:
        tls = _tls_options(certfile, keyfile, client_ca_file)
        self.server = uvicorn.Server(_config(app, host, port, tls))
        self.name = name
        self.endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._error: BaseException | None = None
        self._port = 0

    async def serve(self) -> None:
        """Serve on the running event loop until :meth:`stop`."""
        await self.server.serve()

    def _run(self) -> None:
        name_native_thread()
        try:
            asyncio.run(self.serve())
        except BaseException as exc:  # surfaced to start()
            self._error = exc

    def start(self, timeout: float = 10.0) -> int:
        """Serve from a background thread; returns the bound port once listening.

        Raises:
            OSError: when the server could not bind (e.g. the port is taken).
            TimeoutError: (an OSError) when it is not listening within ``timeout`` seconds.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                self.stop()
                message = f"{self.name}: not listening on {self.endpoint} after {timeout}s"
                raise TimeoutError(message)
            time.sleep(0.01)  # uvicorn offers no start-up callback, so poll
        if not self.server.started:
            raise OSError(f"{self.name} could not start on {self.endpoint}: {self._reason()}")
        return self.port

    def _reason(self) -> str:
        # uvicorn logs a bind error and calls sys.exit inside the except block,
        # so the OSError is the context of the SystemExit
        error = self._error
        if isinstance(error, SystemExit) and error.__context__ is not None:
            error = error.__context__
        return str(error) if error is not None else "server exited"

    @property
    def port(self) -> int:
        """The bound port (the real one when asked for port 0); 0 before it is listening."""
        if not self._port and self.server.started and self.server.servers:
            sockets = self.server.servers[0].sockets
            if sockets:
                self._port = int(sockets[0].getsockname()[1])
        return self._port

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, give in-flight requests up to ``grace`` seconds, and join."""
        self.server.config.timeout_graceful_shutdown = math.ceil(grace)
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(grace + 5.0)
