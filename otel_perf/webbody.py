"""JSON request bodies for the API's write routes: size-capped as they arrive, validated.

Shared by every route module that takes a POST (regression, capacity, cache), so the
rules are the same everywhere: a declared or streamed size over the cap is a 413, a body
that is not JSON or does not fit the model is a 400 naming the field.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_BODY_BYTES = 16 * 1024 * 1024

M = TypeVar("M", bound=BaseModel)


def error(status: int, message: str) -> JSONResponse:
    """``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message}, status_code=status)


def validation_message(exc: ValidationError) -> str:
    """``field.path: what was wrong`` for each problem, joined by ``; ``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


async def read_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes | Response:
    """The raw body, counted as it arrives (never read unbounded), or a 413 response."""
    too_big = error(413, f"request body over {max_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        return too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            return too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(
    request: Request, model: type[M], max_bytes: int = MAX_BODY_BYTES
) -> M | Response:
    """The body parsed as JSON into ``model``, or the 400/413 response that says why not."""
    raw = await read_body(request, max_bytes)
    if isinstance(raw, Response):
        return raw
    try:
        data: Any = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return error(400, f"request body is not JSON: {exc}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return error(400, validation_message(exc))
