"""The incidents processor's document in the store: the open incidents, the recently
resolved, when each finding was first seen open, and the call graph.

Version 1 is the record below; a build before versions wrote that same record bare
(version 0), so it migrates as it is. A document saved before a key existed takes that
key's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otel_perf.component.state import Document, unchanged
from otel_perf.processors.incidents.calls import SavedCalls

STATE = "incidents"


@dataclass
class SavedIncidents:
    """What the processor knew at its last flush."""

    open: dict[str, dict[str, Any]] = field(default_factory=dict)  # incident bodies by id
    recent: list[dict[str, Any]] = field(default_factory=list)  # newest first
    first_seen: dict[str, int] = field(default_factory=dict)  # finding key -> first open
    calls: SavedCalls = field(default_factory=SavedCalls)


SAVED = Document(SavedIncidents, version=1, migrations={0: unchanged})
