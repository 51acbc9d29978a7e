"""Run an ASGI app under uvicorn on a background thread (OTLP/HTTP and the API)."""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any

import uvicorn


class ServerThread:
    """One uvicorn server on its own thread and event loop.

    ``start`` returns once the socket is bound (so port 0 resolves to the real
    port) or raises the error that stopped it from binding.
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
        options: dict[str, Any] = {}
        if certfile:
            options.update(ssl_certfile=certfile, ssl_keyfile=keyfile)
        if client_ca_file:
            options.update(ssl_ca_certs=client_ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="asyncio",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            **options,
        )
        self.server = uvicorn.Server(config)
        self.name = name
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as exc:  # surfaced to start()
            self._error = exc

    def start(self, timeout: float = 10.0) -> int:
        self._thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self.server.started and self._thread.is_alive() and waited < timeout:
            deadline.wait(0.01)
            waited += 0.01
        if not self.server.started:
            self.stop()
            raise OSError(f"{self.name}: could not start: {self._error or 'server exited'}")
        return self.port

    @property
    def port(self) -> int:
        sockets = self.server.servers[0].sockets
        port: int = sockets[0].getsockname()[1]
        return port

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
