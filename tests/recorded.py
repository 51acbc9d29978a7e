"""Recorded traffic as decoded span batches: what the before/after equivalence tests feed."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from scenarios import requests

from benchmarks._common import build_pool
from otel_perf.decode import Decoder, Limits
from otel_perf.model import AttrValue, Resource, SpanBatch, SpanRecord


def scenario_batches(inject: str | None, traces: int = 80) -> list[SpanBatch]:
    """Every request of a scenario (``tests/scenarios.py``), decoded from its bytes."""
    decoder = Decoder(Limits())
    return [decoder.spans_from_bytes(body)[0] for body in requests(inject, traces=traces)]


def benchmark_batches(count: int, seed: int) -> list[SpanBatch]:
    """``count`` requests of the ingest benchmark's pool, decoded from their bytes."""
    decoder = Decoder(Limits())
    return [decoder.spans_from_bytes(body)[0] for body in build_pool(count, seed=seed)]


def random_span(
    rng: random.Random,
    resources: Sequence[Resource],
    names: Sequence[str],
    attributes: Mapping[str, Sequence[AttrValue]],
    end_ns: int,
    status: int = 0,
) -> SpanRecord:
    """A seeded random span: any kind, some of ``attributes`` (key -> values to pick from)."""
    keys = rng.sample(sorted(attributes), rng.randrange(len(attributes)))
    attrs = {k: rng.choice(attributes[k]) for k in keys}  # None too: an empty AnyValue
    return SpanRecord(
        rng.randbytes(16), rng.randbytes(8), b"", rng.choice(resources), "s", rng.choice(names),
        rng.randrange(6), end_ns - rng.randrange(10**9), end_ns, status, "", attrs,
    )  # fmt: skip
