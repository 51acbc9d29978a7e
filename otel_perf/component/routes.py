"""Helpers for a component's routes: find its processor, answer 404 without one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

from otel_perf.component.contract import Processor, component_type
from otel_perf.component.surface import PipelineView
from otel_perf.webbody import error

P = TypeVar("P", bound=Processor)


def first_processor(pipeline: PipelineView, type_name: str, kind: type[P]) -> P | None:
    """The pipeline's first processor of type ``type_name`` (an instance of ``kind``)."""
    for pid, processor in pipeline.processors.items():
        if component_type(pid) == type_name and isinstance(processor, kind):
            return processor
    return None


def needs_processor(
    pipeline: PipelineView,
    type_name: str,
    kind: type[P],
    handler: Callable[[Request, P], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """The route for ``handler``: 404 naming the type when the pipeline has no such processor."""

    async def route(request: Request) -> Response:
        processor = first_processor(pipeline, type_name, kind)
        if processor is None:
            return error(404, f"no {type_name} processor in this pipeline's config")
        return await handler(request, processor)

    return route


#: the most rows a ``?limit=`` may ask for
MAX_LIMIT = 1000


def query_limit(request: Request, default: int = 100) -> int | Response:
    """The ``?limit=`` query parameter (``default`` without one), or the 400 that says why not."""
    try:
        limit = int(request.query_params.get("limit", str(default)))
    except ValueError:
        return error(400, "query parameter limit must be an integer")
    if not 1 <= limit <= MAX_LIMIT:
        return error(400, f"query parameter limit: must be between 1 and {MAX_LIMIT}")
    return limit
