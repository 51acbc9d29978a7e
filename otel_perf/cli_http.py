"""The CLI's side of the REST API: the shared options, GET and POST, and output.

Every API-reading command takes ``--api``, ``--token`` and ``--output``; a failure to
reach or use the API is a ``CLIError`` that ``otel_perf.cli.main`` reports in one line.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from rich.console import Console

DEFAULT_API = "http://127.0.0.1:8080"


class CLIError(Exception):
    """A failure to report in one line and exit non-zero."""


def api_arguments(parser: argparse.ArgumentParser) -> None:
    """``--api``, ``--token`` (default from OTEL_PERF_API / OTEL_PERF_TOKEN), ``--output``."""
    parser.add_argument("--api", default=os.environ.get("OTEL_PERF_API", DEFAULT_API))
    parser.add_argument("--token", default=os.environ.get("OTEL_PERF_TOKEN"))
    parser.add_argument("--output", "-o", choices=["table", "json"], default="table")


def api_get(args: argparse.Namespace, path: str) -> Any:
    """GET ``path`` as JSON; a 503 answer (degraded health) is returned, not raised."""
    request = urllib.request.Request(args.api.rstrip("/") + path)
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (URL is ours)
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:200]
        if exc.code != 503:  # health answers 503 with a body when degraded
            raise CLIError(f"{args.api}{path}: HTTP {exc.code}: {detail}") from None
        return json.loads(detail)
    except urllib.error.URLError as exc:
        raise CLIError(f"cannot reach the otel-perf API at {args.api}: {exc.reason}") from None


def api_post(args: argparse.Namespace, path: str, body: dict[str, Any]) -> Any:
    """POST ``body`` as JSON to ``path``; an error names the API's ``error`` message."""
    request = urllib.request.Request(
        args.api.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 (URL is ours)
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        try:
            detail = json.loads(detail)["error"]
        except (ValueError, KeyError, TypeError):
            pass
        raise CLIError(f"{args.api}{path}: HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise CLIError(f"cannot reach the otel-perf API at {args.api}: {exc.reason}") from None


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
