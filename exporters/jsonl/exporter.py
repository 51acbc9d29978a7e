"""The ``jsonl`` exporter: one ``Finding.to_json()`` line per finding.

Lines are written as bytes so that the size check against ``max_bytes`` is
exact. One rotated file (``<path>.1``) is kept.
"""

from __future__ import annotations

import os
import threading
from typing import BinaryIO

from otel_perf.component import Context, Exporter, Factory
from otel_perf.exporters.jsonl.config import JsonlConfig
from otel_perf.findings import Finding


class JsonlExporter(Exporter):
    """Appends findings to a JSON Lines file, rotating it at ``max_bytes``."""

    def __init__(self, context: Context, config: JsonlConfig) -> None:
        super().__init__(context)
        self.config = config
        # export/flush run on the pipeline thread, shutdown may come from another
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._size = 0

    @property
    def rotated_path(self) -> str:
        """Where the previous file goes on rotation."""
        return f"{self.config.path}.1"

    def start(self) -> None:
        """Open the file for appending, creating parent directories."""
        with self._lock:
            if self._file is None:
                self._open()

    def export(self, findings: list[Finding]) -> None:
        """Append one line per finding and flush.

        Raises:
            RuntimeError: if the exporter is not started (or already shut down);
                the pipeline counts it as an export error instead of losing
                findings silently.
        """
        with self._lock:
            if self._file is None:
                raise RuntimeError(f"exporter {self.id} is not running")
            for finding in findings:
                self._write((finding.to_json() + "\n").encode("utf-8"))
            self._file.flush()

    def flush(self) -> None:
        """Flush buffered bytes to the operating system."""
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def shutdown(self) -> None:
        """Close the file; safe to call twice and without start()."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _open(self) -> None:
        parent = os.path.dirname(self.config.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._file = open(self.config.path, "ab")  # closed in shutdown()
        self._size = self._file.tell()

    def _write(self, line: bytes) -> None:
        # rotate before the write that would cross the limit, so files stay under
        # max_bytes; an empty file is never rotated (a single huge line goes in)
        if self._size and self._size + len(line) > self.config.max_bytes:
            self._rotate()
        assert self._file is not None
        self._file.write(line)
        self._size += len(line)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        self._file = None
        os.replace(self.config.path, self.rotated_path)
        self._open()


def create(context: Context, config: JsonlConfig) -> JsonlExporter:
    """Build a ``jsonl`` exporter (the factory's constructor)."""
    return JsonlExporter(context, config)


FACTORY: Factory[JsonlConfig, Exporter] = Factory(
    type="jsonl",
    config_model=JsonlConfig,
    create=create,
    description="Append findings to a JSON Lines file, rotated at max_bytes.",
)
