"""``otel-perf run`` on event time, for the two-tier run (tests/test_e2e_two_tier.py).

The real Sidecar and config loader; only the clock differs: ``now`` is the latest event
time this process has processed (spans' ends, metric points' times), so a replayed
scenario gives the same intervals, windows and evaluations however fast it is sent. The
test moves time on by sending a watermark metric point.
"""

from __future__ import annotations

import logging
import sys

from otel_perf.config import load_config
from otel_perf.model import Batch
from otel_perf.sidecar import Sidecar


class EventClock:
    """The latest event time processed so far (ns)."""

    def __init__(self) -> None:
        self.now_ns = 0

    def now(self) -> int:
        return self.now_ns

    def observe(self, batch: Batch) -> None:
        self.now_ns = max(self.now_ns, batch.max_time_ns())


def main(config_path: str, store_path: str) -> int:
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    clock = EventClock()
    sidecar = Sidecar(load_config(config_path), store_path=store_path, clock=clock.now)
    process = sidecar.pipeline.process

    def process_then_advance(batch: Batch) -> None:  # after: the batch's spans are not late
        process(batch)
        clock.observe(batch)

    sidecar.pipeline.process = process_then_advance  # type: ignore[method-assign]
    sidecar.start()
    sidecar.run_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
