"""Store catch-up: findings into the store, and after a disk fault the writes left behind."""

from __future__ import annotations

from otel_perf.findings import Finding
from otel_perf.pipeline.guard import Guard
from otel_perf.store import Store


class StoreCatchUp:
    """The pipeline's writes to the store, each isolated by the guard."""

    def __init__(self, store: Store, guard: Guard) -> None:
        self.store = store
        self.guard = guard

    def add(self, findings: list[Finding]) -> None:
        if findings:
            self.guard("store", self.store.add_findings, findings)

    def catch_up(self, now_ns: int) -> None:
        """Write the findings and series left behind by a disk fault, or probe the store
        so the fault clears even when nothing else needs writing."""
        if self.guard("store", self.store.catch_up) is True:
            self.guard("store", self.store.probe, now_ns)
