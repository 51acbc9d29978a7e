"""Name the server span after the matched Starlette route (shared by the examples).

otel_perf.asgi will do this for any app; the examples carry the small version.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace


class RouteNaming:
    """Name the server span after the matched route template once routing is done.

    The ASGI middleware starts the span before the router runs, so it only knows
    the raw path ("GET /items/42"); Starlette records the matched route in the
    scope, and this puts it on the span as http.route (low cardinality).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        span = trace.get_current_span()  # the server span; it ends with the response body

        async def send_named(message: Any) -> None:
            route = scope.get("route")
            if message["type"] == "http.response.start" and route is not None:
                span.set_attribute("http.route", route.path)
                span.update_name(f"{scope['method']} {route.path}")
            await send(message)

        await self.app(scope, receive, send_named)
