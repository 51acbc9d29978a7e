"""The dashboard: a static page that reads the REST API, served by the API itself.

No build step and nothing from elsewhere: ``static/`` holds an HTML page, plain ES modules
and a stylesheet. The page and its assets hold no data, so they are served without the
bearer token (:data:`DASHBOARD_PATHS` are the API's open paths); every number on the page
comes from ``/performance/*`` fetches that carry the token the user pastes.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

#: file name → media type; nothing else under static/ is served
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "actions.js": "text/javascript; charset=utf-8",
    "capacity.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "incidents.js": "text/javascript; charset=utf-8",
    "sections.js": "text/javascript; charset=utf-8",
    "slo.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
DASHBOARD_PATHS = frozenset({"/", "/dashboard", *(f"/dashboard/{name}" for name in ASSETS)})


def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class Dashboard:
    """The page and its assets, read once from the package data."""

    def __init__(self) -> None:
        self.files = {name: _read(name) for name in ("index.html", *ASSETS)}

    async def page(self, request: Request) -> Response:
        body = self.files["index.html"]
        return Response(body, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(self.files[name], media_type=ASSETS[name], headers=SECURITY_HEADERS)

    async def root(self, request: Request) -> Response:
        query = request.url.query
        return RedirectResponse("/dashboard" + (f"?{query}" if query else ""), status_code=307)


def dashboard_routes() -> list[Route]:
    """``/`` (redirects), ``/dashboard`` and ``/dashboard/{asset}``."""
    dashboard = Dashboard()
    return [
        Route("/", dashboard.root),
        Route("/dashboard", dashboard.page),
        Route("/dashboard/{name}", dashboard.asset),
    ]


__all__ = ["CSP", "DASHBOARD_PATHS", "dashboard_routes"]
