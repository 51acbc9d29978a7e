"""SQLite (WAL) store for everything that must survive a restart.

``store`` holds :class:`Store` (tables and their reads and writes), ``faults`` what happens
when the disk fails a write (the errors, fault accounting, the bounded backlog) and
``migrations`` the numbered schema scripts. Import the names from here.
"""

from otel_perf.store.faults import StoreError, StoreFault, StoreWriteError
from otel_perf.store.migrations import MIGRATIONS
from otel_perf.store.store import Store, UsageRow

__all__ = ["MIGRATIONS", "Store", "StoreError", "StoreFault", "StoreWriteError", "UsageRow"]
