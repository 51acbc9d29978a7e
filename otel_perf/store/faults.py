"""What the store does when writes fail because of the disk.

A write that fails because of the disk (full, read-only, I/O error) is a *fault*, not a
bug: it is counted, remembered with its message and start time (``fault``), and raised as
:class:`StoreWriteError` so the caller keeps its data and writes it again at its next
flush. Findings and closed series intervals are kept instead in a bounded backlog, written
first by the next write or :meth:`WriteFaults.catch_up`. The fault clears once a write
succeeds with nothing left behind. :class:`WriteFaults` is the part of
:class:`otel_perf.store.Store` that does this; the errors are defined here too.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from otel_perf.findings import Finding

log = logging.getLogger("otel_perf.store")
T = TypeVar("T")
#: primary SQLite result codes that blame the disk, not the data: PERM, BUSY, LOCKED,
#: READONLY, IOERR, FULL, CANTOPEN
FAULT_CODES = frozenset({3, 5, 6, 8, 10, 13, 14})
#: (resolution_s, start_ns, rows of (service, key, body)) of one closed interval
SeriesWrite = tuple[int, int, list[tuple[str, str, Any]]]


class StoreError(RuntimeError):
    """The store file cannot be opened or is newer than this program."""


class StoreWriteError(StoreError):
    """A write failed because of the disk (full, read-only, I/O); nothing was written."""


@dataclass(frozen=True)
class StoreFault:
    """Writes are failing: the first failure's message and when it began."""

    message: str
    since_ns: int

    @property
    def since(self) -> str:
        """``since_ns`` as an ISO 8601 UTC time."""
        moment = datetime.fromtimestamp(self.since_ns / 1e9, tz=UTC)
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class WriteFaults:
    """Fault accounting and the backlog of a :class:`otel_perf.store.Store` (which sets
    these attributes up and provides ``_transaction`` and ``save_state``)."""

    path: str
    max_findings: int
    clock: Callable[[], int]
    _pending_lock: threading.RLock
    _pending_findings: deque[Finding]
    _pending_series: deque[SeriesWrite]
    _pending_series_rows: int
    fault: StoreFault | None
    write_errors: int
    dropped_findings: int
    dropped_series_rows: int
    recoveries: int

    if TYPE_CHECKING:

        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def save_state(self, component: str, name: str, body: Any, now_ns: int) -> None: ...

    # -- faults -------------------------------------------------------------
    def _write(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a transaction; a disk fault is recorded and raised as StoreWriteError."""
        try:
            with self._transaction() as db:
                result = fn(db)
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in FAULT_CODES:
                raise
            message = f"{what}: {exc} ({getattr(exc, 'sqlite_errorname', 'SQLITE_ERROR')})"
            with self._pending_lock:
                self.write_errors += 1
                if self.fault is None:
                    self.fault = StoreFault(message, self.clock())
                    log.warning("store %s: writes failing: %s", self.path, message)
            raise StoreWriteError(f"store {self.path}: {message}") from None
        self._recovered()
        return result

    def _recovered(self) -> None:
        with self._pending_lock:
            if self.fault is None or self._pending_findings or self._pending_series:
                return
            log.warning(
                "store %s: writes succeed again (fault since %s)", self.path, self.fault.since
            )
            self.fault = None
            self.recoveries += 1

    def catch_up(self) -> bool:
        """Write the backlog of findings and series; True when nothing is left behind."""
        with self._pending_lock:
            if not self._pending_findings and not self._pending_series:
                return True
            findings, series = list(self._pending_findings), list(self._pending_series)
            try:
                self._write("catch up", lambda db: self._write_backlog(db, findings, series))
            except StoreWriteError:
                return False
            except Exception:  # not the disk: the backlog itself is bad; drop it, not loop
                self._drop_backlog()
                raise
            self._pending_findings.clear()
            self._pending_series.clear()
            self._pending_series_rows = 0
            self._recovered()
            return True

    def probe(self, now_ns: int) -> bool:
        """While faulted, try one small write (so a fault clears with nothing else to write)."""
        if self.fault is None:
            return True
        try:
            self.save_state("otel-perf", "store-probe", {"time_ns": now_ns}, now_ns)
        except StoreWriteError:
            return False
        return self.catch_up()

    def status(self) -> dict[str, Any]:
        """Counters and the current fault, JSON-ready (for /performance/metrics and health)."""
        with self._pending_lock:
            fault = self.fault
            return {
                "write_errors": self.write_errors,
                "fault": fault and {"message": fault.message, "since": fault.since},
                "recoveries": self.recoveries,
                "pending_findings": len(self._pending_findings),
                "pending_series_rows": self._pending_series_rows,
                "dropped_findings": self.dropped_findings,
                "dropped_series_rows": self.dropped_series_rows,
            }

    def _drop_backlog(self) -> None:
        self.dropped_findings += len(self._pending_findings)
        self.dropped_series_rows += self._pending_series_rows
        self._pending_findings.clear()
        self._pending_series.clear()
        self._pending_series_rows = 0

    def _write_backlog(
        self, db: sqlite3.Connection, findings: list[Finding], series: list[SeriesWrite]
    ) -> None:
        if findings:
            _insert_findings(db, findings, self.max_findings)
        for resolution_s, start_ns, rows in series:
            _insert_series(db, resolution_s, start_ns, rows)


def _insert_findings(db: sqlite3.Connection, findings: list[Finding], keep: int) -> None:
    rows = [
        (
            f.key,
            f.kind.value,
            f.severity.value,
            f.service,
            f.subject,
            f.time_ns,
            f.state.value,
            f.to_json(),
        )
        for f in findings
    ]
    db.executemany(
        "INSERT INTO findings (key, kind, severity, service, subject, time_ns, state, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    # bounded: keep the newest ``keep`` rows
    db.execute("DELETE FROM findings WHERE id <= (SELECT MAX(id) FROM findings) - ?", (keep,))


def _insert_series(
    db: sqlite3.Connection, resolution_s: int, start_ns: int, rows: list[tuple[str, str, Any]]
) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO series (resolution_s, start_ns, service, key, body)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (resolution_s, start_ns, service, key, json.dumps(body, separators=(",", ":")))
            for service, key, body in rows
        ],
    )
