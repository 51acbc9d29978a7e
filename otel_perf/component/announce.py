"""Deduplication of findings: announce what is new, what changed, what persists past a
quiet period, and what went away (resolved) — not every evaluation's repeat."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from otel_perf.codec import StateError, decode, encode
from otel_perf.component.episodes import Episodes
from otel_perf.findings import Finding, State
from otel_perf.store import Store, StoreWriteError

#: the component-state name under which a processor's announcer is saved
STATE_NAME = "announced"
#: one saved entry: the finding key, severity and magnitude bucket said, when, and the finding
SaidRow = tuple[str, str, int, int, Finding]


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
    and absent from an evaluation is announced once more as resolved. The keys are
    :class:`~otel_perf.component.episodes.Episodes` (open at once, resolved at the
    first absence).
    """

    def __init__(self, quiet_ns: int, max_keys: int = 10_000, steps: int = 2) -> None:
        self.quiet_ns = quiet_ns
        self.max_keys = max_keys
        self.steps = steps
        self._said: Episodes[_Said] = Episodes(max_keys)
        self.suppressed = 0
        self.dirty = False  # changed since the last document()

    def evaluate(
        self, findings: list[Finding], magnitude: dict[str, float], now_ns: int
    ) -> list[Finding]:
        """What to announce from one evaluation; ``magnitude`` maps finding key -> size."""
        out = [f for f in (self._one(f, magnitude.get(f.key, 0.0)) for f in findings) if f]
        for _, said in self._said.sweep({f.key for f in findings}):
            out.append(said.finding.model_copy(update={"state": State.RESOLVED, "time_ns": now_ns}))
        self.dirty = self.dirty or bool(out)
        return out

    def document(self) -> dict[str, Any]:
        """What was said, oldest first, for the store (so a restart does not say it again)."""
        self.dirty = False
        rows = [(key, s.severity, s.bucket, s.time_ns, s.finding) for key, s in self._said.items()]
        return {"said": encode(list[SaidRow], rows)}

    def said(self) -> list[tuple[Finding, float]]:
        """The findings last announced and not resolved since, oldest first, each with a
        magnitude in the bucket it was announced at (so re-evaluating it says nothing new)."""
        return [
            (s.finding, 0.0 if s.bucket == _NO_BUCKET else 2 ** ((s.bucket + 0.5) / self.steps))
            for _, s in self._said.items()
        ]

    def load(self, store: Store, component: str) -> None:
        """Restore what ``component`` said before a restart (nothing when it never saved)."""
        self.restore(store.load_state(component, STATE_NAME))

    def save(self, store: Store, component: str, now_ns: int) -> None:
        """Write what was said when it changed; a store fault keeps it for the next flush."""
        if not self.dirty:
            return
        try:
            store.save_state(component, STATE_NAME, self.document(), now_ns)
        except StoreWriteError:  # counted by the store
            self.dirty = True

    def restore(self, data: Any) -> None:
        """Take back what :meth:`document` saved; entries that do not parse are skipped."""
        rows = data.get("said") if isinstance(data, dict) else None
        for entry in rows[-self.max_keys :] if isinstance(rows, list) else ():
            try:
                row: SaidRow = decode(SaidRow, entry)
            except StateError:  # saved by another version: forget it
                continue
            key, severity, bucket, time_ns, finding = row
            self._said.put(key, _Said(severity, bucket, time_ns, finding))

    def _one(self, finding: Finding, magnitude: float) -> Finding | None:
        key, bucket = finding.key, _bucket(magnitude, self.steps)
        if not self._said.breach(key):
            return None
        said = self._said.get(key)
        if said is not None and (said.severity, said.bucket) == (finding.severity.value, bucket):
            if finding.time_ns - said.time_ns < self.quiet_ns:
                self.suppressed += 1
                said.finding = finding
                return None
        announced = finding.model_copy(
            update={"state": State.OPEN if said is None else State.UPDATED}
        )
        self._said.put(key, _Said(finding.severity.value, bucket, finding.time_ns, announced))
        return announced


_NO_BUCKET = -(10**9)


def _bucket(value: float, steps: int) -> int:
    if value <= 0 or math.isnan(value):
        return _NO_BUCKET
    return math.floor(math.log2(value) * steps)
