"""Settings of the ``jsonl`` exporter."""

from __future__ import annotations

from pydantic import Field

from otel_perf.component import ComponentConfig

MIB = 1024 * 1024


class JsonlConfig(ComponentConfig):
    """``exporters.jsonl``: append findings to a JSON Lines file.

    Attributes:
        path: the file to append to; missing parent directories are created.
        max_bytes: size limit of the file; a write that would take it past the
            limit first moves it to ``<path>.1`` (replacing an older one).
    """

    path: str = Field(min_length=1)
    max_bytes: int = Field(default=100 * MIB, gt=0)
