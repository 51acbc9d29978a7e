"""Bad-input sweep: the OTLP decoders and the config loader under generated input.

``python -m benchmarks.fuzz [--seconds N] [--seed N]``

Three targets, each the path real input takes: OTLP/HTTP JSON bodies (``parse_json`` then
``Decoder.decode``), OTLP protobuf bodies (``parse_protobuf`` then ``Decoder.decode``) and
config YAML (``load_config``). Inputs come from hypothesis strategies: near-valid OTLP JSON
with wrong types, huge numbers, bad hex ids, deep nesting and odd text; mutations of valid
encoded requests (bit flips, truncations, splices, random bytes); mutations of the default
config and random YAML. A target passes an input when it returns, or raises its documented
error type (``DecodeError``, ``ConfigError``) with a non-empty message, within
``--deadline-ms``. ``tests/test_fuzz.py`` runs the same targets briefly in ``make test``;
this runs them for ``--seconds`` (split across the targets) and prints executions and
findings, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from benchmarks._common import build_request
from otel_perf.config import ConfigError, load_config
from otel_perf.config.loader import default_config_text
from otel_perf.decode import DecodeError, Decoder, parse_json, parse_protobuf

SIGNALS = ("traces", "metrics", "logs")
DEADLINE_MS = 5_000
HEX = "0123456789abcdef"
HUGE = "__huge_number__"  # becomes a 5000-digit JSON number (past Python's int-parsing limit)

# -- the targets -------------------------------------------------------------------------


class Finding(AssertionError):
    """A target misbehaved: an undocumented exception or an empty message."""


def check_json(signal: str, body: bytes) -> str | None:
    """Parse and decode one OTLP/HTTP JSON body; the rejection message, or None if taken."""
    try:
        request = parse_json(signal, body)
    except DecodeError as exc:
        return _message(exc, "parse_json")
    _decode(signal, request)
    return None


def check_protobuf(signal: str, body: bytes) -> str | None:
    """Parse and decode one OTLP protobuf body; the rejection message, or None if taken."""
    try:
        request = parse_protobuf(signal, body)
    except DecodeError as exc:
        return _message(exc, "parse_protobuf")
    _decode(signal, request)
    return None


def check_config(text: str) -> str | None:
    """Load one config text; the rejection message, or None if it is valid."""
    try:
        load_config(text=text)
    except ConfigError as exc:
        return _message(exc, "load_config")
    return None


def _decode(signal: str, request: Any) -> None:
    # decoding never raises: bad items are reported in the partial-success message
    batch, problems = Decoder().decode(signal, request)
    if problems.rejected and not problems.message():
        raise Finding(f"{signal}: {problems.rejected} items rejected without a message")
    len(batch)


def _message(exc: Exception, where: str) -> str:
    text = str(exc).strip()
    if not text:
        raise Finding(f"{where} rejected the input with an empty message")
    return text


# -- strategies: OTLP JSON -----------------------------------------------------------------

NASTY_NUMBERS = st.sampled_from(
    [0, -1, 2**63, -(2**63) - 1, 2**64, 2**200, HUGE, 1e308, -1e308, 0.5, "NaN", "-0"]
)
NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "zz", "0" * 31, "0" * 33, "g" * 32, "00" * 8, "ff" * 17, "\ud800"]),
    st.text(alphabet=HEX, min_size=0, max_size=40),
)
SCALARS = st.one_of(st.none(), st.booleans(), NASTY_NUMBERS, st.integers(), st.floats(), NASTY_TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=4,
)


def hex_id(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=HEX, min_size=2 * size, max_size=2 * size)


def nanos() -> st.SearchStrategy[Any]:
    base = 1_700_000_000_000_000_000
    return st.one_of(
        st.integers(base, base + 10**12).map(str), st.integers(base, base + 10**12), SCALARS
    )


def any_value() -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        st.builds(lambda v: {"stringValue": v}, NASTY_TEXT),
        st.builds(lambda v: {"intValue": v}, st.one_of(NASTY_NUMBERS, st.integers().map(str))),
        st.builds(lambda v: {"doubleValue": v}, st.one_of(st.floats(), NASTY_NUMBERS)),
        st.builds(lambda v: {"boolValue": v}, SCALARS),
        st.builds(lambda v: {"bytesValue": v}, NASTY_TEXT),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(inner, max_size=3)),
            st.builds(
                lambda kvs: {"kvlistValue": {"values": kvs}},
                st.lists(st.builds(lambda k, v: {"key": k, "value": v}, NASTY_TEXT, inner)),
            ),
        ),
        max_leaves=3,
    )


ANY_VALUE = any_value()


def attributes() -> st.SearchStrategy[list[Any]]:
    kv = st.builds(lambda k, v: {"key": k, "value": v}, NASTY_TEXT, ANY_VALUE)
    return st.lists(kv, max_size=2)


def _resource(attrs: list[Any], service: str) -> dict[str, Any]:
    return {"attributes": [{"key": "service.name", "value": {"stringValue": service}}, *attrs]}


def span() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "traceId": st.one_of(hex_id(16), NASTY_TEXT),
            "spanId": st.one_of(hex_id(8), NASTY_TEXT),
            "name": NASTY_TEXT,
            "kind": st.one_of(st.integers(0, 5), SCALARS),
            "startTimeUnixNano": nanos(),
            "endTimeUnixNano": nanos(),
            "attributes": attributes(),
            "status": st.fixed_dictionaries({"code": st.one_of(st.integers(0, 2), SCALARS)}),
        },
        optional={
            "parentSpanId": st.one_of(hex_id(8), NASTY_TEXT),
            "events": st.lists(
                st.fixed_dictionaries({"timeUnixNano": nanos(), "name": NASTY_TEXT}), max_size=2
            ),
            "links": st.lists(
                st.fixed_dictionaries({"traceId": hex_id(16), "spanId": hex_id(8)}), max_size=2
            ),
        },
    )


def point() -> st.SearchStrategy[dict[str, Any]]:
    counts = st.lists(st.one_of(st.integers(0, 2**64).map(str), SCALARS), max_size=5)
    return st.fixed_dictionaries(
        {"timeUnixNano": nanos(), "attributes": attributes()},
        optional={
            "startTimeUnixNano": nanos(),
            "asInt": st.one_of(st.integers().map(str), NASTY_NUMBERS),
            "asDouble": st.one_of(st.floats(), NASTY_NUMBERS),
            "count": st.one_of(st.integers(0, 2**64).map(str), SCALARS),
            "sum": st.one_of(st.floats(), NASTY_NUMBERS),
            "bucketCounts": counts,
            "explicitBounds": st.lists(st.one_of(st.floats(), NASTY_NUMBERS), max_size=4),
            "scale": st.one_of(st.integers(-30, 30), NASTY_NUMBERS),
            "zeroCount": st.one_of(st.integers(0, 10).map(str), SCALARS),
            "positive": st.fixed_dictionaries(
                {"offset": st.one_of(st.integers(), NASTY_NUMBERS), "bucketCounts": counts}
            ),
            "quantileValues": st.lists(
                st.fixed_dictionaries({"quantile": st.floats(), "value": st.floats()}), max_size=3
            ),
            "min": st.one_of(st.floats(), NASTY_NUMBERS),
            "max": st.one_of(st.floats(), NASTY_NUMBERS),
        },
    )


def metric() -> st.SearchStrategy[dict[str, Any]]:
    data = st.fixed_dictionaries({"dataPoints": st.lists(point(), max_size=3)})
    sum_data = st.fixed_dictionaries(
        {"dataPoints": st.lists(point(), max_size=3)},
        optional={
            "aggregationTemporality": st.one_of(st.integers(0, 2), SCALARS),
            "isMonotonic": SCALARS,
        },
    )
    kind = st.one_of(
        st.builds(lambda d: {"gauge": d}, data),
        st.builds(lambda d: {"sum": d}, sum_data),
        st.builds(lambda d: {"histogram": d}, sum_data),
        st.builds(lambda d: {"exponentialHistogram": d}, sum_data),
        st.builds(lambda d: {"summary": d}, data),
    )
    return st.builds(
        lambda name, unit, k: {"name": name, "unit": unit, **k}, NASTY_TEXT, NASTY_TEXT, kind
    )


def log_record() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"timeUnixNano": nanos(), "body": any_value(), "attributes": attributes()},
        optional={
            "traceId": st.one_of(hex_id(16), NASTY_TEXT),
            "spanId": st.one_of(hex_id(8), NASTY_TEXT),
            "severityNumber": st.one_of(st.integers(0, 24), SCALARS),
            "eventName": NASTY_TEXT,
            "observedTimeUnixNano": nanos(),
        },
    )


LEAVES = {
    "traces": ("resourceSpans", "scopeSpans", "spans", span),
    "metrics": ("resourceMetrics", "scopeMetrics", "metrics", metric),
    "logs": ("resourceLogs", "scopeLogs", "logRecords", log_record),
}


def otlp_document(signal: str) -> st.SearchStrategy[dict[str, Any]]:
    """A near-valid OTLP JSON request of ``signal``."""
    top, scoped, items, item = LEAVES[signal]
    scope = st.builds(
        lambda name, xs: {"scope": {"name": name}, items: xs},
        NASTY_TEXT,
        st.lists(item(), max_size=3),
    )
    resource = st.builds(
        lambda attrs, service, scopes: {"resource": _resource(attrs, service), scoped: scopes},
        attributes(),
        NASTY_TEXT,
        st.lists(scope, max_size=2),
    )
    return st.builds(lambda rs: {top: rs}, st.lists(resource, max_size=2))


DOCUMENTS = {signal: otlp_document(signal) for signal in SIGNALS}


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with a few nodes replaced by wrong-typed or odd values."""
    for _ in range(draw(st.integers(0, 3))):
        document = _replace_one(draw, document)
    return document


def _replace_one(draw: st.DrawFn, node: Any) -> Any:
    if isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        return {**node, key: _replace_one(draw, node[key])}
    if isinstance(node, list) and node and draw(st.booleans()):
        i = draw(st.integers(0, len(node) - 1))
        return [*node[:i], _replace_one(draw, node[i]), *node[i + 1 :]]
    return draw(JSON_VALUES)


def _dumps(document: Any) -> bytes:
    text = json.dumps(document, allow_nan=True).replace(f'"{HUGE}"', "9" * 5000)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def json_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """(signal, body): mostly near-valid documents, some deep or broken raw bytes."""
    signal = draw(st.sampled_from(SIGNALS))
    shape = draw(st.integers(0, 9))
    if shape <= 6:
        return signal, _dumps(draw(mutated(draw(DOCUMENTS[signal]))))
    if shape == 7:  # nesting far past any sane request
        depth = draw(st.integers(90, 5_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return signal, (opener * depth + "1" + closer * depth).encode()
    if shape == 8:  # valid JSON, truncated or with invalid UTF-8 spliced in
        body = _dumps(draw(DOCUMENTS[signal]))
        cut = draw(st.integers(0, len(body)))
        return signal, body[:cut] + draw(st.sampled_from([b"", b"\xff", b"\xc3\x28", b"\x00"]))
    return signal, draw(st.binary(max_size=200))


# -- strategies: protobuf ------------------------------------------------------------------


def _seed_requests() -> dict[str, list[bytes]]:
    rng = random.Random(7)
    traces = [build_request(rng, "checkout", 16, 1_700_000_000_000_000_000).SerializeToString()]
    metrics = [
        parse_json(
            "metrics",
            {
                "resourceMetrics": [
                    {
                        "resource": _resource([], "checkout"),
                        "scopeMetrics": [{"metrics": _SEED_METRICS}],
                    }
                ]
            },
        ).SerializeToString()
    ]
    logs = [
        parse_json(
            "logs",
            {
                "resourceLogs": [
                    {
                        "resource": _resource([], "checkout"),
                        "scopeLogs": [
                            {
                                "logRecords": [
                                    {
                                        "timeUnixNano": "1700000000000000000",
                                        "body": {"stringValue": "hello"},
                                        "eventName": "cache.get",
                                        "traceId": "0af7651916cd43dd8448eb211c80319c",
                                        "spanId": "b7ad6b7169203331",
                                    }
                                ]
                            }
                        ],
                    }
                ]
            },
        ).SerializeToString()
    ]
    return {"traces": traces, "metrics": metrics, "logs": logs}


_T = "1700000000000000000"
_SEED_METRICS = [
    {"name": "g", "gauge": {"dataPoints": [{"timeUnixNano": _T, "asInt": "3"}]}},
    {
        "name": "s",
        "sum": {
            "aggregationTemporality": 2,
            "isMonotonic": True,
            "dataPoints": [{"timeUnixNano": _T, "asDouble": 1.5}],
        },
    },
    {
        "name": "h",
        "unit": "ms",
        "histogram": {
            "aggregationTemporality": 1,
            "dataPoints": [
                {
                    "timeUnixNano": _T,
                    "count": "3",
                    "sum": 7.0,
                    "bucketCounts": ["1", "1", "1"],
                    "explicitBounds": [1.0, 5.0],
                }
            ],
        },
    },
    {
        "name": "e",
        "exponentialHistogram": {
            "aggregationTemporality": 1,
            "dataPoints": [
                {
                    "timeUnixNano": _T,
                    "count": "2",
                    "scale": 3,
                    "positive": {"offset": 2, "bucketCounts": ["1", "1"]},
                }
            ],
        },
    },
    {
        "name": "q",
        "summary": {
            "dataPoints": [
                {
                    "timeUnixNano": _T,
                    "count": "1",
                    "quantileValues": [{"quantile": 0.5, "value": 1}],
                }
            ]
        },
    },
]
SEEDS = _seed_requests()


@st.composite
def protobuf_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """(signal, body): a valid encoded request with bit flips, cuts and splices, or random."""
    signal = draw(st.sampled_from(SIGNALS))
    if draw(st.integers(0, 9)) == 0:
        return signal, draw(st.binary(max_size=300))
    body = bytearray(draw(st.sampled_from(SEEDS[signal])))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "splice", "byte"]))
        if not body:
            break
        at = draw(st.integers(0, len(body) - 1))
        if action == "flip":
            body[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del body[at:]
        elif action == "splice":
            body[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            body[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0xC3, 0x0A, 0x12]))
    return signal, bytes(body)


# -- strategies: config --------------------------------------------------------------------

DEFAULT_CONFIG = default_config_text()
VALID_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:4317"}
processors:
  slo:
    objectives:
      - {name: shop, service: shop, availability: 0.999}
  spanmetrics: {interval: 10s}
service:
  store: {flush_interval: 1s, path: ./x.db}
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics, slo]}
"""
YAML_TOKENS = st.sampled_from(
    [
        "",
        "~",
        "-1",
        "1e999",
        "0x10",
        "10s",
        "-5m",
        "yes",
        "[]",
        "{}",
        "&a x",
        "*a",
        "!!python/none",
        "${env:OTEL_PERF_FUZZ_UNSET}",
        "${env:HOME}",
        "'",
        '"',
        ":",
        "- ",
        "\t",
        "? x",
        "99999999999999999999",
    ]
)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """Mutations of real configs (lines dropped, doubled, values replaced) or random YAML."""
    shape = draw(st.integers(0, 4))
    if shape == 4:
        return draw(st.one_of(st.text(max_size=200), JSON_VALUES.map(yaml.safe_dump)))
    lines = draw(st.sampled_from([DEFAULT_CONFIG, VALID_CONFIG])).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "double", "value", "indent", "text"]))
        if action == "drop":
            del lines[at]
        elif action == "double":
            lines.insert(at, lines[at])
        elif action == "value" and ":" in lines[at]:
            head = lines[at].split(":", 1)[0]
            lines[at] = f"{head}: {draw(YAML_TOKENS)}"
        elif action == "indent":
            lines[at] = " " * draw(st.integers(0, 7)) + lines[at].lstrip()
        else:
            lines[at] = draw(st.text(max_size=30))
        if not lines:
            break
    return "\n".join(lines) + "\n"


# -- running -------------------------------------------------------------------------------


@dataclass
class Run:
    """Executions and findings of one target."""

    name: str
    executions: int = 0
    rejected: int = 0
    findings: dict[str, int] = field(default_factory=dict)  # distinct error -> rounds


def _counting(run: Run, check: Callable[..., str | None]) -> Callable[[Any], None]:
    def body(example: Any) -> None:
        run.executions += 1
        args = example if isinstance(example, tuple) else (example,)
        if check(*args) is not None:
            run.rejected += 1

    return body


TARGETS: dict[str, tuple[Callable[..., str | None], st.SearchStrategy[Any]]] = {
    "otlp_json": (check_json, json_bodies()),
    "otlp_protobuf": (check_protobuf, protobuf_bodies()),
    "config_yaml": (check_config, config_texts()),
}


def fuzz(name: str, seconds: float, seed: int, deadline_ms: int = DEADLINE_MS) -> Run:
    """Run target ``name`` in rounds of 500 examples (new seed each) for ``seconds``."""
    check, strategy = TARGETS[name]
    run = Run(name)
    body = _counting(run, check)
    end = time.monotonic() + seconds
    round_seed = seed
    while time.monotonic() < end:
        test = settings(
            max_examples=500,
            deadline=deadline_ms,
            database=None,
            derandomize=False,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )(given(strategy)(body))
        try:
            _seeded(test, round_seed)()
        except Exception as exc:  # a finding: keep the shrunk example's error and go on
            text = f"{type(exc).__name__}: {str(exc)[:500]}"
            run.findings[text] = run.findings.get(text, 0) + 1
        round_seed += 1
    return run


def _seeded(test: Any, seed: int) -> Any:
    from hypothesis import seed as hypothesis_seed

    return hypothesis_seed(seed)(test)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="total, split across targets")
    parser.add_argument("--seed", type=int, default=1, help="first hypothesis seed")
    parser.add_argument("--deadline-ms", type=int, default=DEADLINE_MS, help="per input")
    parser.add_argument("--target", choices=sorted(TARGETS), action="append", help="only these")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.target or list(TARGETS)
    runs = [fuzz(n, args.seconds / len(names), args.seed, args.deadline_ms) for n in names]
    print(f"{'target':<15} {'executions':>11} {'rejected':>9} {'findings':>9}")
    for run in runs:
        print(f"{run.name:<15} {run.executions:>11} {run.rejected:>9} {len(run.findings):>9}")
        for text, rounds in run.findings.items():
            print(f"  finding ({rounds} rounds): {text}")
    summary = {
        "seconds": args.seconds,
        "executions": {r.name: r.executions for r in runs},
        "rejected": {r.name: r.rejected for r in runs},
        "findings": {r.name: r.findings for r in runs},
    }
    print(json.dumps(summary))
    return 1 if any(r.findings for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
