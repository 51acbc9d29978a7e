"""The app library installs lean: ``pip install 'otel-perf[asgi]'`` into a fresh venv brings
OpenTelemetry's API, SDK and ASGI instrumentation but no grpcio, scipy, ruptures or numpy, and
there the middleware and the cache work; the ``otel-perf`` command names the extra it lacks."""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

from tests.wheels import build_wheel

HEAVY = ("grpc", "scipy", "ruptures", "numpy", "yaml", "rich")

APP = """
import asyncio, importlib.util, json, sys

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_perf.asgi import checkpoint, performance_monitoring
from otel_perf.cache import get_cache

spans = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
calls = []


async def item(request):
    calls.append(request.path_params["n"])
    checkpoint("loaded")
    return JSONResponse({"n": request.path_params["n"]})


app = performance_monitoring(
    Starlette(routes=[Route("/items/{n}", item)]),
    tracer_provider=tracer_provider,
    meter_provider=MeterProvider(),
    caching=True,
)


async def get(path):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": [(b"host", b"app")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


async def main():
    first = await get("/items/7")
    second = await get("/items/7")
    cache = get_cache("db")
    await cache.set("product:42", {"name": "Widget"}, ttl=60, tags=["products"])
    stored = await cache.get("product:42")
    await cache.invalidate_tags("products")
    gone = await cache.get("product:42")
    server = [s for s in spans.get_finished_spans() if s.name == "GET /items/{n}"]
    events = [e.name for s in server for e in s.events]
    print(json.dumps({
        "responses": [first, second], "calls": calls, "stored": stored, "gone": gone,
        "server_spans": len(server), "events": events,
        "loaded": sorted(m for m in HEAVY if m in sys.modules),
        "installed": sorted(m for m in HEAVY if importlib.util.find_spec(m) is not None),
    }))


HEAVY = %r
asyncio.run(main())
"""


def test_the_app_library_installs_and_works_without_the_sidecar(tmp_path: Path) -> None:
    build_wheel(Path(__file__).parents[1], tmp_path / "dist").close()
    (wheel,) = (tmp_path / "dist").glob("otel_perf-*.whl")
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[asgi]"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    done = subprocess.run(
        [python, "-c", APP % (HEAVY,)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["installed"] == [] and seen["loaded"] == []
    assert seen["responses"] == [[200, {"n": "7"}], [200, {"n": "7"}]]
    assert seen["calls"] == ["7"]  # the second answer came from the response cache
    assert seen["stored"] == {"name": "Widget"} and seen["gone"] is None
    assert seen["server_spans"] == 2 and seen["events"].count("loaded") == 1

    command = subprocess.run(
        [env / "bin" / "otel-perf", "run"], capture_output=True, text=True, timeout=60
    )
    assert command.returncode == 2
    assert "pip install 'otel-perf[sidecar]'" in command.stderr
