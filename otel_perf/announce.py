"""Deduplication of findings: announce what is new, what changed, what persists past a
quiet period, and what went away (resolved) — not every evaluation's repeat."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from otel_perf.findings import Finding, State


@dataclass(slots=True)
class _Said:
    severity: str
    bucket: int
    time_ns: int
    finding: Finding


class Announcer:
    """Remembers what was said about each finding key (bounded, least recent dropped).

    A finding is announced when its key is new, when its severity changes, when
    its magnitude moves by more than a factor of ``2 ** (1 / steps)``, or when
    ``quiet_ns`` has passed since it was last announced. A key announced before
    and absent from an evaluation is announced once more as resolved.
    """

    def __init__(self, quiet_ns: int, max_keys: int = 10_000, steps: int = 2) -> None:
        self.quiet_ns = quiet_ns
        self.max_keys = max_keys
        self.steps = steps
        self._said: OrderedDict[str, _Said] = OrderedDict()
        self.suppressed = 0

    def evaluate(
        self, findings: list[Finding], magnitude: dict[str, float], now_ns: int
    ) -> list[Finding]:
        """What to announce from one evaluation; ``magnitude`` maps finding key -> size."""
        out = [f for f in (self._one(f, magnitude.get(f.key, 0.0)) for f in findings) if f]
        present = {f.key for f in findings}
        for key in [k for k in self._said if k not in present]:
            said = self._said.pop(key)
            out.append(said.finding.model_copy(update={"state": State.RESOLVED, "time_ns": now_ns}))
        return out

    def _one(self, finding: Finding, magnitude: float) -> Finding | None:
        key, bucket = finding.key, _bucket(magnitude, self.steps)
        said = self._said.get(key)
        if said is not None and (said.severity, said.bucket) == (finding.severity.value, bucket):
            if finding.time_ns - said.time_ns < self.quiet_ns:
                self.suppressed += 1
                said.finding = finding
                return None
        announced = finding.model_copy(
            update={"state": State.OPEN if said is None else State.UPDATED}
        )
        self._said[key] = _Said(finding.severity.value, bucket, finding.time_ns, announced)
        self._said.move_to_end(key)
        while len(self._said) > self.max_keys:
            self._said.popitem(last=False)
        return announced


def _bucket(value: float, steps: int) -> int:
    if value <= 0 or math.isnan(value):
        return -(10**9)
    return math.floor(math.log2(value) * steps)
