"""Bad-input sweep: OTLP JSON and protobuf decoding and the config loader never crash or
hang on generated input; every rejection is the documented error type with a message.

Brief by default (``max_examples`` 200 per target); ``OTEL_PERF_FUZZ_EXAMPLES=5000`` runs
longer. ``python -m benchmarks.fuzz --seconds N`` runs the same targets for a time budget.
The regression tests at the bottom pin what the sweep found.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks.fuzz import (  # noqa: E402
    DEADLINE_MS,
    SEEDS,
    check_config,
    check_json,
    check_protobuf,
    config_texts,
    json_bodies,
    protobuf_bodies,
)
from otel_perf.config import ConfigError, load_config  # noqa: E402
from otel_perf.decode import DecodeError, parse_json  # noqa: E402

EXAMPLES = int(os.environ.get("OTEL_PERF_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=DEADLINE_MS,
    database=None,
    derandomize=True,  # the same examples on every run of `make test`
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(json_bodies())
def test_otlp_json_bodies(example: tuple[str, bytes]) -> None:
    message = check_json(*example)
    assert message is None or message.strip()


@FUZZ
@given(protobuf_bodies())
def test_otlp_protobuf_bodies(example: tuple[str, bytes]) -> None:
    message = check_protobuf(*example)
    assert message is None or message.strip()


@FUZZ
@given(config_texts())
def test_config_texts(text: str) -> None:
    message = check_config(text)
    assert message is None or message.strip()


def test_the_seeds_are_valid_requests() -> None:
    """The protobuf mutations start from requests the decoder takes whole."""
    for signal, bodies in SEEDS.items():
        for body in bodies:
            assert check_protobuf(signal, body) is None, signal


# -- what the sweep found ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ('{"a":' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
        ('{"resourceSpans": ' + "9" * 5000 + "}", "Exceeds the limit (4300 digits)"),
    ],
)
def test_json_that_overflowed_the_parser_is_a_decode_error(body: str, expected: str) -> None:
    with pytest.raises(DecodeError, match=r"cannot decode OTLP traces JSON: ") as caught:
        parse_json("traces", body)
    assert expected in str(caught.value)


def laughs(levels: int) -> str:
    """A "billion laughs": each level lists the previous one nine times."""
    lines = ["x-bomb:", "  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (laughs(9), "more than 100000 values (aliases expanding?)"),
        ("a: &a [*a]\n", "nested deeper than 64 levels"),
        ("a: &a {b: *a}\n", "nested deeper than 64 levels"),
        ("a: " + "[" * 20_000 + "]" * 20_000 + "\n", "invalid YAML: nested too deeply"),
        (
            "service:\n  store: {path: !!python/none }\n",
            "2:17 service.store.path: invalid value: could not determine a constructor",
        ),
    ],
)
def test_yaml_that_hung_or_crashed_the_loader_is_a_config_error(text: str, expected: str) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_config(text=text)
    assert expected in str(caught.value)
    assert time.monotonic() - started < 5.0  # the bomb used to run for minutes


def test_a_real_config_is_far_below_the_bounds() -> None:
    config: Any = load_config()  # the embedded default still loads
    assert config.service.store.flush_interval > 0
