"""The contract checks: lifecycle, input not mutated, same input same output, and state
that survives a restart through the store. Each raises AssertionError naming the type."""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from otel_perf.component import Context, Factory
from otel_perf.componenttest.configs import load_config
from otel_perf.componenttest.golden import INPUT, case_config, first_case, run_exporter_case
from otel_perf.componenttest.harness import Harness, last_time_ns, upstream_of
from otel_perf.componenttest.steps import Step, read_steps
from otel_perf.decode import Decoder
from otel_perf.findings import Finding
from otel_perf.model import Batch, SpanBatch
from otel_perf.store import Store


def check_processor_lifecycle(factory: Factory[Any, Any], testdata: Path) -> None:
    """Create; shutdown without start; then twice over the first golden case: start,
    consume, tick, snapshot (JSON-ready), flush, shutdown twice. The input is not
    mutated and both runs give the same findings."""
    _shutdown_without_start(factory, testdata)
    case = first_case(factory, testdata)
    runs = []
    for _ in range(2):
        store = Store(":memory:")
        harness = Harness(factory, case_config(factory, case, {}), store, upstream_of(case))
        harness.start()
        steps = harness.read(case)
        _build_columns(steps)
        before = _frozen(steps)
        found = harness.run(steps)
        assert _frozen(steps) == before, f"{factory.type}: changed the batches it was given"
        _json_ready(factory.type, harness.subject.snapshot())
        harness.flush(last_time_ns(steps))
        harness.shutdown()
        harness.shutdown()  # twice is fine
        store.close()
        runs.append([f.model_dump(mode="json") for f in found])
    assert runs[0] == runs[1], f"{factory.type}: the same input gave different findings"


def check_exporter_lifecycle(factory: Factory[Any, Any], testdata: Path, tmp_path: Path) -> None:
    """Create; shutdown without start; then twice over the first golden case: start,
    export, flush, shutdown twice. The findings are not mutated and both runs send the
    same."""
    unused = {"tmp": str(tmp_path), "capture": "http://127.0.0.1:9", "port": "9"}
    _shutdown_without_start(factory, testdata, unused)
    case = first_case(factory, testdata)
    given = _findings_of(read_steps(case / INPUT, Decoder()))

    def again(harness: Harness, steps: list[Step]) -> None:
        harness.subject.shutdown()  # twice is fine
        assert _findings_of(steps) == given, f"{factory.type}: changed the findings it was given"

    first = run_exporter_case(factory, case, tmp_path / "first", again)
    second = run_exporter_case(factory, case, tmp_path / "second", again)
    assert first == second, f"{factory.type}: the same findings were exported differently"


def _findings_of(steps: Sequence[Step]) -> list[Any]:
    return [f.model_dump(mode="json") for step in steps for f in step.findings]


def check_state_round_trip(
    factory: Factory[Any, Any],
    testdata: Path,
    tmp_path: Path,
    in_memory: Collection[str] = (),
) -> None:
    """A restart half-way through the first golden case changes nothing.

    The case runs once without a restart. Then again on a file store: the first half,
    ``flush``, shutdown; a new instance (and new upstream processors) on the same store
    starts and runs the second half. Its findings over the second half, and its final
    ``snapshot()``, must equal those of the run without a restart (state may load lazily,
    when its series comes back). ``in_memory`` names the snapshot keys the component
    keeps in memory only, by design (a window being filled, counters since start): they
    are left out of the comparison (``history.pending_rows`` names a nested key); the
    findings must match all the same.
    """
    case = first_case(factory, testdata)
    config = case_config(factory, case, {})
    upstream = upstream_of(case)
    reference = Harness(factory, config, Store(":memory:"), upstream)
    steps = reference.read(case)
    split = _middle_tick(factory.type, steps)
    expected, expected_view = _second_half(reference, steps, split)

    path = tmp_path / "round-trip.db"
    _first_half(Harness(factory, config, Store(path), upstream), steps, split)
    after = Harness(factory, config, Store(path), upstream)
    found, view = _second_half(after, steps, split, restarted=True)
    problems = _findings_differ(found, expected)
    view, expected_view = _without(view, in_memory), _without(expected_view, in_memory)
    keys = view.keys() | expected_view.keys()
    if differ := sorted(k for k in keys if view.get(k) != expected_view.get(k)):
        problems.append(f"snapshot() differs in {differ}")
    lost = "; ".join(problems)
    assert not problems, f"{factory.type}: a restart through the store lost state: {lost}"


def _first_half(harness: Harness, steps: Sequence[Step], split: int) -> None:
    """Run ``steps[:split]``, flush, shut down and close the store: the run a restart ends."""
    harness.start()
    harness.run(steps[:split])
    harness.flush(last_time_ns(steps[:split]))
    harness.shutdown()
    harness.store.close()


def _second_half(
    harness: Harness, steps: Sequence[Step], split: int, restarted: bool = False
) -> tuple[list[Finding], Any]:
    """Start ``harness``, run the first half unless ``restarted``, then the second half;
    its findings over the second half and its final snapshot."""
    harness.start()
    if not restarted:
        harness.run(steps[:split])
    found = harness.run(steps[split:])
    view = _json_ready(harness.subject.context.component_id, harness.subject.snapshot())
    harness.shutdown()
    harness.store.close()
    return found, view


def _findings_differ(found: list[Finding], expected: list[Finding]) -> list[str]:
    got = [f.model_dump(mode="json") for f in found]
    want = [f.model_dump(mode="json") for f in expected]
    if got == want:
        return []
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    detail = f"; first differing: {got[first]} != {want[first]}" if first is not None else ""
    return [f"findings after the restart {_kinds(found)} != without {_kinds(expected)}{detail}"]


def _without(view: dict[str, Any], paths: Collection[str]) -> dict[str, Any]:
    """``view`` without the (dotted) ``paths``."""
    for path in paths:
        *parents, last = path.split(".")
        node: Any = view
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return view


def _kinds(findings: Sequence[Any]) -> list[str]:
    return [f"{f.kind.value}:{f.subject}:{f.state.value}" for f in findings]


def _shutdown_without_start(
    factory: Factory[Any, Any], testdata: Path, values: dict[str, str] | None = None
) -> None:
    config = load_config(factory, testdata, values or {})
    store = Store(":memory:")
    factory.create(Context(factory.type, store), config).shutdown()
    store.close()


def _middle_tick(kind: str, steps: Sequence[Step]) -> int:
    """The index just after the middle tick of ``steps``."""
    ticks = [i for i, step in enumerate(steps) if step.tick_ns is not None]
    assert len(ticks) >= 2, f"{kind}: the first golden case needs two ticks or more"
    return ticks[(len(ticks) - 1) // 2] + 1


def _json_ready(kind: str, snapshot: Any) -> Any:
    assert isinstance(snapshot, dict), f"{kind}: snapshot() must return a dict"
    try:
        return json.loads(json.dumps(snapshot, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{kind}: snapshot() is not JSON-ready: {exc}") from None


def _build_columns(steps: Sequence[Step]) -> None:
    """Build span batches' columns now, as the first processor to read them would."""
    for step in steps:
        for batch in step.batches:
            if isinstance(batch, SpanBatch):
                batch.columns()


def _frozen(steps: Sequence[Step]) -> list[Any]:
    """A deep copy of every batch's records (and columns, once built), to compare."""
    return [_batch_copy(batch) for step in steps for batch in step.batches]


def _batch_copy(batch: Batch) -> Any:
    records = [copy.deepcopy([getattr(r, name) for name in type(r).__slots__]) for r in batch]
    if isinstance(batch, SpanBatch) and batch.columnar is not None:
        columns = batch.columnar
        arrays = {
            name: _array_copy(getattr(columns, name))
            for name in columns.__dataclass_fields__
            if name != "derived"  # a cache processors share on purpose
        }
        return records, arrays
    return records


def _array_copy(value: Any) -> Any:
    if hasattr(value, "tobytes"):
        return value.dtype.str, value.shape, value.tobytes()
    if isinstance(value, dict):
        return {k: _array_copy(v) for k, v in value.items()}
    return copy.deepcopy(list(value) if not isinstance(value, str) else value)
