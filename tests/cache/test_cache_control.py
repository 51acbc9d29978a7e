"""The app's cache control endpoints over real caches: stats, invalidate (keys, tags,
patterns), warm-up; the bearer token; malformed and oversized bodies refused with the
cache left intact; mounted by ``performance_monitoring`` under a real uvicorn; and an
invalidation reaching level 2 in a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from test_cache_middleware import serve

from otel_perf.asgi import performance_monitoring
from otel_perf.cache import Cache, CacheConfig, caches, configure_cache
from otel_perf.cache.control import MAX_BODY_BYTES, cache_control_app
from otel_perf.cache.middleware import CacheSettings

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENTRIES = {
    "user:1": ({"name": "ada"}, ["users"]),
    "user:2": ({"name": "bob"}, ["users"]),
    "product:1": ({"sku": "p1"}, ["products"]),
    "product:2": ({"sku": "p2"}, []),
}


class Caches:
    """Two fresh L1-only caches filled with :data:`ENTRIES` (b with the keys only)."""

    def __init__(self) -> None:
        self.a = configure_cache("ctl-a", max_size=100)
        self.b = configure_cache("ctl-b", max_size=100)

    async def fill(self) -> None:
        for key, (value, tags) in ENTRIES.items():
            await self.a.set(key, value, tags=tags)
            await self.b.set(key, value)

    def __call__(self) -> dict[str, Cache]:
        return {"ctl-a": self.a, "ctl-b": self.b}

    async def present(self, cache: Cache) -> set[str]:
        return {key for key in ENTRIES if await cache.get(key) is not None}


@pytest.fixture
def registry() -> Caches:
    return Caches()


async def call(
    app: Any, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        return await client.request(
            method, path, headers=AUTH if headers is None else headers, **kwargs
        )


def run(registry: Caches, *steps: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    """Fill the caches, then send each (method, path, request kwargs) to the control app."""
    app = cache_control_app(TOKEN, registry)

    async def go() -> list[httpx.Response]:
        await registry.fill()
        return [await call(app, method, path, **kwargs) for method, path, kwargs in steps]

    return asyncio.run(go())


# -- the token ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/stats"), ("POST", "/invalidate"), ("POST", "/warmup")]
)
def test_every_endpoint_needs_the_token(
    registry: Caches, headers: dict[str, str], method: str, path: str
) -> None:
    body = {"json": {"patterns": ["*"]}} if method == "POST" else {}
    (response,) = run(registry, (method, path, {"headers": headers, **body}))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"error": "missing or wrong bearer token"}
    assert asyncio.run(registry.present(registry.a)) == set(ENTRIES)


def test_the_scheme_is_case_insensitive(registry: Caches) -> None:
    (response,) = run(
        registry, ("GET", "/stats", {"headers": {"Authorization": f"bearer {TOKEN}"}})
    )
    assert response.status_code == 200


@pytest.mark.parametrize("token", ["", None, 42])
def test_an_empty_token_is_refused_at_construction(token: Any) -> None:
    with pytest.raises(ValueError, match="token must be a non-empty string"):
        cache_control_app(token)


# -- stats ----------------------------------------------------------------------------


def test_stats_lists_every_cache(registry: Caches) -> None:
    async def go() -> httpx.Response:
        await registry.fill()
        await registry.a.get("user:1")
        await registry.a.get("user:404")
        return await call(cache_control_app(TOKEN, registry), "GET", "/stats")

    response = asyncio.run(go())
    assert response.status_code == 200
    body = response.json()
    assert set(body["caches"]) == {"ctl-a", "ctl-b"}
    a = body["caches"]["ctl-a"]
    assert a["name"] == "ctl-a" and a["l1_entries"] == 4
    assert a["hits"] == 1 and a["misses"] == 1 and a["level2"] is False


# -- invalidate -----------------------------------------------------------------------


def test_invalidate_by_keys_tags_and_patterns_in_one_cache(registry: Caches) -> None:
    body = {"cache": "ctl-a", "keys": ["product:2"], "tags": ["users"], "patterns": ["product:*"]}
    (response,) = run(registry, ("POST", "/invalidate", {"json": body}))
    assert response.status_code == 200, response.text
    assert response.json() == {"invalidated": {"ctl-a": 4}}
    assert asyncio.run(registry.present(registry.a)) == set()
    assert asyncio.run(registry.present(registry.b)) == set(ENTRIES)


def test_invalidate_without_a_cache_name_reaches_every_cache(registry: Caches) -> None:
    (response,) = run(registry, ("POST", "/invalidate", {"json": {"patterns": ["user:*"]}}))
    assert response.json() == {"invalidated": {"ctl-a": 2, "ctl-b": 2}}
    assert asyncio.run(registry.present(registry.b)) == {"product:1", "product:2"}


def test_an_unknown_cache_is_a_404_naming_the_known_ones(registry: Caches) -> None:
    body = {"cache": "nope", "keys": ["user:1"]}
    (response,) = run(registry, ("POST", "/invalidate", {"json": body}))
    assert response.status_code == 404
    assert (
        response.json()["error"] == "cache: no cache named \"nope\"; configured: ['ctl-a', 'ctl-b']"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "body: not JSON"),
        (b"[1, 2]", "body: expected a JSON object, got array"),
        (b"{}", "tags, patterns, keys: at least one must be a non-empty list"),
        (b'{"tags": [], "patterns": []}', "tags, patterns, keys: at least one must be"),
        (b'{"tags": "users"}', "tags: expected a list of strings, got string"),
        (b'{"keys": ["user:1"], "tags": ["users", 3]}', "tags[1]: expected a non-empty string"),
        (b'{"patterns": [""]}', "patterns[0]: expected a non-empty string, got an empty string"),
        (b'{"cache": 5, "keys": ["user:1"]}', "cache: expected a cache name"),
        (b'{"keys": ["user:1"], "colour": 1}', "body: unknown field(s) ['colour']"),
    ],
)
def test_a_malformed_invalidation_is_a_400_and_changes_nothing(
    registry: Caches, content: bytes, message: str
) -> None:
    (response,) = run(registry, ("POST", "/invalidate", {"content": content}))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert asyncio.run(registry.present(registry.a)) == set(ENTRIES)
    assert asyncio.run(registry.present(registry.b)) == set(ENTRIES)


def test_bodies_over_one_mib_are_refused_with_413(registry: Caches) -> None:
    padding = "x" * MAX_BODY_BYTES
    declared = {"json": {"keys": ["user:1"], "pad": padding}}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"keys": ["user:1"], "pad": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    streamed = {"content": chunks()}
    responses = run(registry, ("POST", "/invalidate", declared), ("POST", "/warmup", streamed))
    assert [r.status_code for r in responses] == [413, 413]
    assert responses[0].json() == {"error": f"request body over {MAX_BODY_BYTES} bytes"}
    assert asyncio.run(registry.present(registry.a)) == set(ENTRIES)


def test_wrong_methods_are_405(registry: Caches) -> None:
    responses = run(registry, ("GET", "/invalidate", {}), ("POST", "/stats", {}))
    assert [r.status_code for r in responses] == [405, 405]


# -- warm-up --------------------------------------------------------------------------


def test_warmup_runs_the_registered_loaders(registry: Caches) -> None:
    async def loader() -> list[tuple[str, Any]]:
        return [("user:9", {"name": "eve"}), ("user:10", {"name": "mal"})]

    registry.a.register_warmup(loader, tags=["users"])
    responses = run(
        registry,
        ("POST", "/warmup", {"json": {"cache": "ctl-a", "keys": ["user:9"]}}),
        ("POST", "/warmup", {"json": {"cache": None}}),
        ("POST", "/warmup", {"json": {"keys": "user:9"}}),
        ("POST", "/warmup", {"json": {"cache": "ctl-c"}}),
    )
    assert responses[0].json() == {"warmed": {"ctl-a": 1}}
    assert responses[1].json() == {"warmed": {"ctl-a": 2, "ctl-b": 0}}
    assert responses[2].status_code == 400
    assert responses[2].json()["error"] == "keys: expected a list of strings or null, got string"
    assert responses[3].status_code == 404
    assert asyncio.run(registry.a.get("user:10")) == {"name": "mal"}


# -- mounted ----------------------------------------------------------------------------


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.path_params['name']}")


def test_performance_monitoring_mounts_the_endpoints_under_real_uvicorn() -> None:
    cache = configure_cache("ctl-http", max_size=50)
    settings = CacheSettings(cache_name="ctl-http", control_token=TOKEN, tags=["pages"])
    app = performance_monitoring(
        Starlette(routes=[Route("/hello/{name}", hello)]), caching=settings
    )
    with serve(app) as base, httpx.Client(base_url=base) as client:
        pages = [client.get("/hello/ada").headers["x-cache"] for _ in range(2)]
        refused = client.get("/_otel_perf/cache/stats")
        stats = client.get("/_otel_perf/cache/stats", headers=AUTH)
        invalidated = client.post(
            "/_otel_perf/cache/invalidate",
            json={"cache": "ctl-http", "tags": ["pages"]},
            headers=AUTH,
        )
        after = client.get("/hello/ada").headers["x-cache"]
        beside = client.get("/_otel_perf/cachex")
    assert pages == ["MISS", "HIT"]
    assert refused.status_code == 401
    assert stats.status_code == 200 and stats.json()["caches"]["ctl-http"]["hits"] == 1
    assert set(stats.json()["caches"]) == set(caches())
    assert invalidated.json() == {"invalidated": {"ctl-http": 1}}
    assert after == "MISS"
    assert beside.status_code == 404 and "x-cache" in beside.headers  # the app's own 404
    assert cache.stats()["invalidations"] >= 1


def test_the_app_mounts_in_starlette(registry: Caches) -> None:
    control = cache_control_app(TOKEN, registry)
    app = Starlette(routes=[Mount("/_otel_perf/cache", app=control)])

    async def go() -> httpx.Response:
        await registry.fill()
        return await call(app, "GET", "/_otel_perf/cache/stats")

    response = asyncio.run(go())
    assert response.status_code == 200 and set(response.json()["caches"]) == {"ctl-a", "ctl-b"}


# -- level 2 ----------------------------------------------------------------------------


def test_invalidation_reaches_level_2_that_other_processes_share(
    redis_url: str, redis_client: Any
) -> None:
    config = CacheConfig(redis_url=redis_url, redis_prefix="ctl-test")
    here, elsewhere = Cache("ctl-l2", config), Cache("ctl-l2", config)  # two processes' views
    app = cache_control_app(TOKEN, lambda: {"ctl-l2": here})

    async def go() -> tuple[Any, httpx.Response, Any, Any]:
        fresh = Cache("ctl-l2", config)  # level 1 empty: whatever it finds is in Redis
        try:
            await here.set("page:1", {"v": 1}, tags=["pages"])
            await here.set("page:2", {"v": 2})
            seen = await elsewhere.get("page:1")  # from Redis
            body = {"tags": ["pages"], "patterns": ["page:2"]}
            response = await call(app, "POST", "/invalidate", json=body)
            return seen, response, await fresh.get("page:1"), await fresh.get("page:2")
        finally:
            for cache in (here, elsewhere, fresh):
                await cache.close()

    seen, response, after_tag, after_pattern = asyncio.run(go())
    assert seen == {"v": 1}
    assert response.json() == {"invalidated": {"ctl-l2": 2}}
    assert after_tag is None and after_pattern is None
    assert not [k for k in redis_client.scan_iter("ctl-test*") if b"page:" in k]
