"""Command-line helpers shared by the benchmarks: every count and time they take is bounded."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` for an integer in ``[low, high]``; else a message naming the range."""

    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse
