"""A loopback HTTP server that records what an exporter sends (``{capture}`` in its config)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

#: the largest request body kept; a bigger one is recorded as its size only
MAX_BODY_BYTES = 4 * 1024 * 1024
#: requests kept; later ones are counted, not kept
MAX_REQUESTS = 1000


@dataclass(frozen=True)
class Request:
    """One request as received."""

    method: str
    path: str
    content_type: str
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (the http.server naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if length > MAX_BODY_BYTES:
            body = b""
        self.server.record(Request("POST", self.path, self.headers.get("Content-Type", ""), body))
        # an empty body is a valid OTLP/HTTP (protobuf) and Alertmanager v2 success
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the requests are the record."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Request] = []
        self.overflowed = 0
        self._lock = threading.Lock()

    def record(self, request: Request) -> None:
        with self._lock:
            if len(self.requests) < MAX_REQUESTS:
                self.requests.append(request)
            else:
                self.overflowed += 1


class CaptureServer:
    """Records every POST on loopback until closed; ``url`` is its base URL."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="componenttest-capture", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[Request]:
        with self._server._lock:
            return list(self._server.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> CaptureServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
