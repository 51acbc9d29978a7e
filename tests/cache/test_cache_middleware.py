"""The response cache middleware over a real L1-only ``otel_perf.cache`` cache: hits served
without calling the app (handler calls counted), HTTP caching rules (Cache-Control, Vary,
credentials, max-age with an injected clock, HEAD, streamed bodies) and the server span's
``cache.hit`` under ``performance_monitoring``; real uvicorn where the wire matters."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from otel_perf.asgi import Profiling, performance_monitoring
from otel_perf.cache import Cache, configure_cache
from otel_perf.cache.http import Entry
from otel_perf.cache.middleware import (
    CacheMiddleware,
    CacheSettings,
    cache_middleware,
)

CACHE = "mw-test"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Shop:
    """A Starlette app whose handlers count their calls; ``headers`` adds response headers."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.headers: dict[str, str] = {}
        self.version = 1

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    async def item(self, request: Request) -> Response:
        self._count("item")
        body = f"item {request.path_params['item_id']} v{self.version} q={request.url.query}"
        return PlainTextResponse(body, headers=self.headers)

    async def greeting(self, request: Request) -> Response:
        self._count("greeting")
        language = request.headers.get("accept-language", "en")
        text = {"de": "Hallo", "fr": "Bonjour"}.get(language, "Hello")
        headers = {"Vary": "Accept-Language", "Content-Language": language}
        return PlainTextResponse(text, headers=headers)

    async def me(self, request: Request) -> Response:
        self._count("me")
        who = request.headers.get("authorization", "anonymous")
        return PlainTextResponse(f"hello {who}", headers=self.headers)

    async def stream(self, request: Request) -> Response:
        self._count("stream")
        chunks = int(request.query_params["chunks"])

        async def body() -> AsyncIterator[bytes]:
            for i in range(chunks):
                yield bytes([i % 251]) * 65536

        return StreamingResponse(body(), media_type="application/octet-stream")

    async def missing(self, request: Request) -> Response:
        self._count("missing")
        return PlainTextResponse("no such thing", status_code=404)

    async def order(self, request: Request) -> Response:
        self._count("order")
        return PlainTextResponse("created", status_code=201)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/items/{item_id:int}", self.item),
                Route("/greeting", self.greeting),
                Route("/me", self.me),
                Route("/stream", self.stream),
                Route("/missing", self.missing),
                Route("/orders", self.order, methods=["GET", "POST"]),
            ]
        )


@pytest.fixture
def cache() -> Cache:
    return configure_cache(CACHE, max_size=100)  # a fresh L1-only cache each test


@pytest.fixture
def shop() -> Shop:
    return Shop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cached_app(shop: Shop, clock: Clock, **options: Any) -> CacheMiddleware:
    return cache_middleware(shop.app(), cache_name=CACHE, clock=clock, **options)


async def fetch(app: Any, *requests: tuple[str, str, dict[str, str]]) -> list[httpx.Response]:
    """One client per request, so no cookie set by a response is sent back."""
    responses = []
    for method, path, headers in requests:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            responses.append(await client.request(method, path, headers=headers))
    return responses


def get(app: Any, *paths: str, **headers: str) -> list[httpx.Response]:
    return asyncio.run(fetch(app, *[("GET", p, headers) for p in paths]))


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` under a real uvicorn on a free loopback port (in a thread); its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# -- hits and misses ------------------------------------------------------------------


def test_a_hit_is_served_by_real_uvicorn_without_calling_the_app(
    cache: Cache, shop: Shop, clock: Clock
) -> None:
    with serve(cached_app(shop, clock)) as base, httpx.Client(base_url=base) as client:
        first = client.get("/items/1")
        clock.now += 7.4
        second = client.get("/items/1")
        other = client.get("/items/2")
    assert first.headers["x-cache"] == "MISS" and "age" not in first.headers
    assert second.headers["x-cache"] == "HIT" and second.headers["age"] == "7"
    assert second.status_code == 200 and second.text == first.text == "item 1 v1 q="
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["content-length"] == str(len(first.content))
    assert other.headers["x-cache"] == "MISS" and other.text == "item 2 v1 q="
    assert shop.calls == {"item": 2}
    stats = cache.stats()
    assert stats["hits"] == 1 and stats["misses"] == 2


def test_query_parameter_order_does_not_change_the_key(
    cache: Cache, shop: Shop, clock: Clock
) -> None:
    first, second, third = get(
        cached_app(shop, clock), "/items/1?b=2&a=1", "/items/1?a=1&b=2", "/items/1?a=2"
    )
    assert [r.headers["x-cache"] for r in (first, second, third)] == ["MISS", "HIT", "MISS"]
    assert shop.calls == {"item": 2}


def test_other_methods_and_statuses_pass_through(cache: Cache, shop: Shop, clock: Clock) -> None:
    app = cached_app(shop, clock)
    posts = asyncio.run(fetch(app, ("POST", "/orders", {}), ("POST", "/orders", {})))
    assert [r.status_code for r in posts] == [201, 201]
    assert all("x-cache" not in r.headers for r in posts)
    assert [r.headers["x-cache"] for r in get(app, "/orders", "/orders")] == ["MISS", "MISS"]
    assert [r.headers["x-cache"] for r in get(app, "/missing", "/missing")] == ["MISS", "MISS"]
    assert shop.calls == {"order": 4, "missing": 2}
    # 404 is opt-in
    shop.calls.clear()
    app404 = cached_app(shop, clock, statuses=[200, 404])
    assert [r.headers["x-cache"] for r in get(app404, "/missing", "/missing")] == ["MISS", "HIT"]
    assert shop.calls == {"missing": 1}


# -- Cache-Control, Set-Cookie, Vary ----------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        {"Cache-Control": "no-store"},
        {"Cache-Control": "private, max-age=600"},
        {"Cache-Control": "public, no-cache"},
        {"Cache-Control": "max-age=0"},
        {"Set-Cookie": "session=abc"},
        {"Vary": "*"},
    ],
)
def test_responses_that_forbid_storing_are_not_cached(
    cache: Cache, shop: Shop, clock: Clock, header: dict[str, str]
) -> None:
    shop.headers = header
    responses = get(cached_app(shop, clock), "/items/1", "/items/1")
    assert [r.headers["x-cache"] for r in responses] == ["MISS", "MISS"]
    assert shop.calls == {"item": 2}
    assert cache.stats()["l1_entries"] == 0


def test_vary_keeps_one_entry_per_header_value(cache: Cache, shop: Shop, clock: Clock) -> None:
    app = cached_app(shop, clock)
    requests = [
        ("GET", "/greeting", {"Accept-Language": lang}) for lang in ("de", "fr", "de", "fr")
    ]
    responses = asyncio.run(fetch(app, *requests, ("GET", "/greeting", {})))
    assert [r.text for r in responses] == ["Hallo", "Bonjour", "Hallo", "Bonjour", "Hello"]
    assert [r.headers["x-cache"] for r in responses] == ["MISS", "MISS", "HIT", "HIT", "MISS"]
    assert responses[2].headers["content-language"] == "de"
    assert shop.calls == {"greeting": 3}
    assert cache.stats()["l1_entries"] == 4  # the Vary pointer and three variants


def test_the_configured_vary_headers_are_part_of_the_key(
    cache: Cache, shop: Shop, clock: Clock
) -> None:
    app = cached_app(shop, clock, vary=["X-Tenant"])
    requests = [("GET", "/items/1", {"X-Tenant": t}) for t in ("a", "b", "a")]
    responses = asyncio.run(fetch(app, *requests))
    assert [r.headers["x-cache"] for r in responses] == ["MISS", "MISS", "HIT"]


# -- credentials ------------------------------------------------------------------------


@pytest.mark.parametrize("credential", [{"Authorization": "Bearer alice"}, {"Cookie": "s=1"}])
def test_requests_with_credentials_are_neither_cached_nor_served_from_the_cache(
    cache: Cache, shop: Shop, clock: Clock, credential: dict[str, str]
) -> None:
    app = cached_app(shop, clock)
    anonymous = get(app, "/me", "/me")
    assert [r.headers["x-cache"] for r in anonymous] == ["MISS", "HIT"]
    personal = asyncio.run(fetch(app, ("GET", "/me", credential), ("GET", "/me", credential)))
    assert all("x-cache" not in r.headers for r in personal)
    if "Authorization" in credential:
        assert personal[1].text == "hello Bearer alice"
    assert shop.calls == {"me": 3}


def test_credentials_opt_in_stores_only_what_the_response_makes_public(
    cache: Cache, shop: Shop, clock: Clock
) -> None:
    app = cached_app(shop, clock, cache_with_credentials=True)
    alice = {"Authorization": "Bearer alice"}
    unmarked = asyncio.run(fetch(app, ("GET", "/me", alice), ("GET", "/me", alice)))
    assert [r.headers["x-cache"] for r in unmarked] == ["MISS", "MISS"]
    shop.headers = {"Cache-Control": "public, max-age=60"}
    public = asyncio.run(fetch(app, ("GET", "/me", alice), ("GET", "/me", alice)))
    assert [r.headers["x-cache"] for r in public] == ["MISS", "HIT"]


# -- TTL ------------------------------------------------------------------------------


def test_max_age_sets_the_ttl(cache: Cache, shop: Shop, clock: Clock) -> None:
    shop.headers = {"Cache-Control": "public, max-age=10"}
    app = cached_app(shop, clock, ttl=60)
    assert get(app, "/items/1")[0].headers["x-cache"] == "MISS"
    clock.now += 9.5
    hit = get(app, "/items/1")[0]
    assert hit.headers["x-cache"] == "HIT" and hit.headers["age"] == "9"
    assert hit.headers["cache-control"] == "public, max-age=10"
    clock.now += 1.0  # 10.5 s after storing: stale
    assert get(app, "/items/1")[0].headers["x-cache"] == "MISS"
    assert shop.calls == {"item": 2}


def test_s_maxage_wins_and_is_bounded_by_max_ttl(cache: Cache, shop: Shop, clock: Clock) -> None:
    shop.headers = {"Cache-Control": "max-age=5, s-maxage=100000"}
    app = cached_app(shop, clock, ttl=10, max_ttl=50)
    get(app, "/items/1")
    clock.now += 49
    assert get(app, "/items/1")[0].headers["x-cache"] == "HIT"
    clock.now += 2
    assert get(app, "/items/1")[0].headers["x-cache"] == "MISS"


def test_without_max_age_the_configured_ttl_applies(cache: Cache, shop: Shop, clock: Clock) -> None:
    app = cached_app(shop, clock, ttl=3)
    get(app, "/items/1")
    clock.now += 2.9
    assert get(app, "/items/1")[0].headers["x-cache"] == "HIT"
    clock.now += 0.2
    assert get(app, "/items/1")[0].headers["x-cache"] == "MISS"


def test_request_no_cache_skips_the_lookup_and_refreshes(
    cache: Cache, shop: Shop, clock: Clock
) -> None:
    app = cached_app(shop, clock)
    assert get(app, "/items/1")[0].text == "item 1 v1 q="
    shop.version = 2
    assert get(app, "/items/1")[0].text == "item 1 v1 q="  # still cached
    refreshed = get(app, "/items/1", **{"Cache-Control": "no-cache"})[0]
    assert refreshed.headers["x-cache"] == "MISS" and refreshed.text == "item 1 v2 q="
    again = get(app, "/items/1")[0]
    assert again.headers["x-cache"] == "HIT" and again.text == "item 1 v2 q="
    no_store = get(app, "/items/1", **{"Cache-Control": "no-store"})[0]
    assert "x-cache" not in no_store.headers
    assert shop.calls == {"item": 3}


# -- HEAD and bodies ------------------------------------------------------------------


def test_head_is_answered_from_the_get_entry(cache: Cache, shop: Shop, clock: Clock) -> None:
    app = cached_app(shop, clock)
    head_first, got, head = asyncio.run(
        fetch(app, ("HEAD", "/items/1", {}), ("GET", "/items/1", {}), ("HEAD", "/items/1", {}))
    )
    assert head_first.headers["x-cache"] == "MISS"  # a HEAD answer is not stored
    assert got.headers["x-cache"] == "MISS"
    assert head.headers["x-cache"] == "HIT" and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert shop.calls == {"item": 2}


def test_a_large_streamed_body_passes_through_real_uvicorn_untouched(
    cache: Cache, shop: Shop, clock: Clock
) -> None:
    app = cached_app(shop, clock, max_body_bytes=1024 * 1024)
    expected = hashlib.sha256(b"".join(bytes([i % 251]) * 65536 for i in range(40))).hexdigest()
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        big = [client.get("/stream?chunks=40") for _ in range(2)]  # 2.5 MiB
        small = [client.get("/stream?chunks=3") for _ in range(2)]
    for response in big:
        assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
        assert hashlib.sha256(response.content).hexdigest() == expected
    assert [r.headers["x-cache"] for r in small] == ["MISS", "HIT"]
    assert small[1].content == small[0].content and len(small[1].content) == 3 * 65536
    assert small[1].headers["content-length"] == str(3 * 65536)
    assert shop.calls == {"stream": 3}


# -- tags, invalidation, damaged entries --------------------------------------------------


def test_entries_carry_tags_and_invalidation_reaches_vary_variants(
    cache: Cache, shop: Shop, clock: Clock
) -> None:
    def tags(scope: Any) -> list[str]:
        return ["shop", "path:" + scope["path"].split("/")[1]]

    app = cached_app(shop, clock, tags=tags)
    get(app, "/items/1", "/items/2")
    asyncio.run(fetch(app, ("GET", "/greeting", {"Accept-Language": "de"})))
    assert asyncio.run(cache.invalidate_tags("path:items")) == 2
    assert [r.headers["x-cache"] for r in get(app, "/items/1", "/items/2")] == ["MISS", "MISS"]
    assert asyncio.run(cache.invalidate_pattern("http:http://shop.test/greeting*")) == 2
    again = asyncio.run(fetch(app, ("GET", "/greeting", {"Accept-Language": "de"})))
    assert again[0].headers["x-cache"] == "MISS"
    assert asyncio.run(cache.invalidate_tags("shop")) == 4


def test_a_damaged_entry_is_a_miss_and_gets_replaced(
    cache: Cache, shop: Shop, clock: Clock
) -> None:
    app = cached_app(shop, clock, vary=[])  # the key is then the URL alone
    key = app.base_key(
        {"type": "http", "path": "/items/1", "scheme": "http"}, {b"host": [b"shop.test"]}
    )

    async def scenario() -> list[httpx.Response]:
        await cache.set(key, b"not an entry")
        first = await fetch(app, ("GET", "/items/1", {}))
        await cache.set(key, {"a": "json value"})
        second = await fetch(app, ("GET", "/items/1", {}), ("GET", "/items/1", {}))
        return first + second

    responses = asyncio.run(scenario())
    assert [r.headers["x-cache"] for r in responses] == ["MISS", "MISS", "HIT"]
    assert all(r.text == "item 1 v1 q=" for r in responses)
    assert Entry.from_bytes(asyncio.run(cache.get(key))) is not None


def test_entries_round_trip() -> None:
    entry = Entry(
        kind="response",
        stored_at=12.5,
        ttl=30.0,
        vary=("accept-language",),
        status=203,
        headers=((b"content-type", b"text/plain; charset=\xe9"),),
        body=b"\x00\xffbody",
        route="/items/{id}",
        route_format="/items/{id}",
        load_ms=1.5,
    )
    assert Entry.from_bytes(entry.to_bytes()) == entry
    assert Entry.from_bytes(entry.to_bytes()[:6]) is None
    assert Entry.from_bytes("text") is None


# -- performance_monitoring(caching=...) --------------------------------------------------


def test_performance_monitoring_gives_cached_hits_a_server_span_with_cache_hit(
    cache: Cache, shop: Shop
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = CacheSettings(cache_name=CACHE, tags=["shop"])
    every_request = Profiling(memory_interval_s=0)  # memory sampled on each, not 1 per 50 ms
    app = performance_monitoring(
        shop.app(), profiling=every_request, caching=settings, tracer_provider=provider
    )
    try:
        with serve(app) as base, httpx.Client(base_url=base) as client:
            responses = [client.get("/items/7") for _ in range(3)]
    finally:
        provider.shutdown()
    assert [r.headers["x-cache"] for r in responses] == ["MISS", "HIT", "HIT"]
    assert shop.calls == {"item": 1}
    servers = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert len(servers) == 3
    hits = [dict(s.attributes or {}).get("cache.hit") for s in servers]
    assert hits == [False, True, True]
    for span in servers:
        attributes = dict(span.attributes or {})
        assert span.name == "GET /items/{item_id:int}"  # the stored route names hits too
        assert attributes["http.route"] == "/items/{item_id:int}"
        status = attributes.get("http.response.status_code", attributes.get("http.status_code"))
        assert status == 200
        assert "otel_perf.memory.rss_end_bytes" in attributes  # profiling ran for hits too


def test_performance_monitoring_with_caching_true_uses_the_defaults(shop: Shop) -> None:
    configure_cache("http", max_size=10)
    app = performance_monitoring(shop.app(), caching=True)
    responses = get(app, "/items/1", "/items/1")
    assert [r.headers["x-cache"] for r in responses] == ["MISS", "HIT"]


# -- settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"statuses": [200, 500]}, "[500] not cacheable here"),
        ({"ttl": 100, "max_ttl": 10}, "ttl (100.0) is above max_ttl (10.0)"),
        ({"control_token": ""}, "control_token: empty"),
        ({"key_prefix": "a:b"}, "key_prefix"),
        ({"cache_name": "bad name"}, "cache_name"),
        ({"vary": ["*"]}, "vary"),
        ({"control_path": "/ctl/"}, "control_path"),
        ({"tags": "shop"}, "tags"),
        ({"ttl": 0}, "ttl"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        CacheSettings(**options)
    assert message in str(info.value)


def test_the_token_is_not_in_the_repr() -> None:
    assert "s3cret" not in repr(CacheSettings(control_token="s3cret"))


def test_cache_middleware_wraps_now_or_later(shop: Shop, clock: Clock) -> None:
    later = cache_middleware(cache_name=CACHE, ttl=5)
    wrapped = later(shop.app())
    assert isinstance(wrapped, CacheMiddleware) and wrapped.settings.ttl == 5
    base = CacheSettings(cache_name=CACHE, ttl=5)
    assert cache_middleware(shop.app(), base).settings is base
    tuned = cache_middleware(shop.app(), base, ttl=2)
    assert tuned.settings.ttl == 2 and tuned.settings.cache_name == CACHE
    with pytest.raises(ValidationError, match="ttl"):
        cache_middleware(shop.app(), base, ttl=-1)
