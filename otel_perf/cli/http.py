"""The CLI's side of the REST API: the shared options, GET and POST, and output.

Every API-reading command takes ``--api``, ``--token`` and ``--output``; a failure to
reach or use the API is a ``CLIError`` that ``otel_perf.cli.commands`` reports in one line.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
from rich.console import Console

from otel_perf.cli.args import Handler, add_command

DEFAULT_API = "http://127.0.0.1:8080"


class CLIError(Exception):
    """A failure to report in one line and exit non-zero."""


def api_url(value: str) -> str:
    """``--api``: ``host:port`` means ``http://host:port``; a trailing slash is dropped."""
    value = value.strip()
    if "://" not in value:
        value = "http://" + value
    scheme = value.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(
            f'"{value}" is not an http:// or https:// address (like 127.0.0.1:8080)'
        )
    return value.rstrip("/")


def api_arguments(parser: argparse.ArgumentParser) -> None:
    """``--api``, ``--token`` (default from OTEL_PERF_API / OTEL_PERF_TOKEN), ``--output``
    and ``--wide``."""
    parser.add_argument(
        "--api",
        type=api_url,
        default=os.environ.get("OTEL_PERF_API", DEFAULT_API),
        help=f"the sidecar's API, like 127.0.0.1:8080 (default: $OTEL_PERF_API or {DEFAULT_API})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("OTEL_PERF_TOKEN"),
        help="bearer token, when the API has auth (default: $OTEL_PERF_TOKEN)",
    )
    parser.add_argument(
        "--output",
        "-o",
        choices=["table", "json"],
        default="table",
        help="table for people (default) or the API's JSON answer on one line",
    )
    parser.add_argument(
        "--wide", action="store_true", help="never wrap: one line per row, however long"
    )


def add_reader(
    sub: Any, name: str, handler: Handler, help: str, rows: bool = True
) -> argparse.ArgumentParser:
    """Add API-reading command ``name`` to ``sub``: ``--api``, ``--token``, ``--output``,
    ``--wide`` and, with ``rows``, ``--service`` and ``--limit``. Components' surfaces add
    their readers with it too."""
    reader = add_command(sub, name, handler, help)
    api_arguments(reader)
    if rows:
        reader.add_argument("--service", help="only this service")
        reader.add_argument("--limit", type=int, default=50, help="at most this many rows")
    return reader


def api_get(args: argparse.Namespace, path: str) -> Any:
    """GET ``path`` as JSON; a 503 answer (degraded health) is returned, not raised."""
    request = httpx.Request("GET", args.api + path, headers=_auth(args))
    return _send(args, request, timeout_s=10, accept=(503,))


def api_post(args: argparse.Namespace, path: str, body: dict[str, Any]) -> Any:
    """POST ``body`` as JSON to ``path``; an error names the API's ``error`` message."""
    request = httpx.Request(
        "POST",
        args.api + path,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **_auth(args)},
    )
    return _send(args, request, timeout_s=600)


def _auth(args: argparse.Namespace) -> dict[str, str]:
    return {"Authorization": f"Bearer {args.token}"} if args.token else {}


def _send(
    args: argparse.Namespace,
    request: httpx.Request,
    timeout_s: float,
    accept: tuple[int, ...] = (),
) -> Any:
    where = f"{request.method} {request.url}"
    try:
        with httpx.Client(timeout=timeout_s) as client:
            response = client.send(request)
    except httpx.TimeoutException:
        raise CLIError(f"{where}: no answer within {timeout_s:g} s") from None
    except httpx.TransportError as exc:
        raise CLIError(
            f"cannot reach the otel-perf API at {args.api} ({str(exc) or type(exc).__name__}); "
            'is "otel-perf run" running there? Point --api (or OTEL_PERF_API) at it'
        ) from None
    except (httpx.InvalidURL, ValueError) as exc:  # a URL httpx cannot use (bad port, no host)
        raise CLIError(f"--api {args.api}: {exc}") from None
    if response.is_success or response.status_code in accept:
        return _json(response.content, where)  # health answers 503 with its verdict
    reason = response.reason_phrase
    raise CLIError(error_sentence(where, response.status_code, reason, response.content))


def _json(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise CLIError(f"{where}: the answer is not JSON; is --api an otel-perf API?") from None


def error_sentence(where: str, status: int, reason: str, body: bytes) -> str:
    """One sentence for an HTTP error: the request, the status and the API's own message.

    >>> error_sentence("GET http://h/x", 404, "Not Found", b'{"error": "no such test"}')
    'GET http://h/x: HTTP 404 Not Found: no such test'
    """
    head = f"{where}: HTTP {status} {reason}".rstrip()
    message = _message(body)
    return f"{head}: {message}" if message else head


def _message(body: bytes) -> str:
    """The ``error`` (or ``detail``) of a JSON body; a short plain-text body as it is."""
    text = body.decode(errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        first = " ".join(text.split())
        return first if first and len(first) <= 300 and not first.startswith("<") else ""
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return ""


def show(
    args: argparse.Namespace, console: Console, data: Any, render: Callable[[Console, Any], None]
) -> None:
    """``--output json``: the API's answer as one JSON line; else ``render`` it for people."""
    if args.output == "json":
        print(json.dumps(data, sort_keys=True))
    else:
        render(console, data)


def api_query(args: argparse.Namespace, **extra: str | None) -> str:
    """``?limit=..&service=..`` and ``extra``, leaving out the unset ones."""
    params = {"limit": str(args.limit), "service": args.service, **extra}
    return "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v})
