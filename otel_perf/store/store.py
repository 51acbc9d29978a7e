"""``Store``: the SQLite (WAL) file for everything that must survive a restart.

Migrations (``otel_perf.store.migrations``) are numbered; ``PRAGMA user_version`` records
the last applied. Processors keep their state as JSON documents under their component id
(``save_state`` / ``load_state``); findings have a table of their own. What happens when
the disk fails a write (faults, the backlog) is in ``otel_perf.store.faults``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otel_perf.findings import Finding
from otel_perf.store.faults import (
    SeriesWrite,
    StoreError,
    StoreFault,
    StoreWriteError,
    WriteFaults,
)
from otel_perf.store.migrations import MIGRATIONS

log = logging.getLogger("otel_perf.store")


#: (resource, resolution_s, start_ns, count, sum, min, max, last, last_ns)
UsageRow = tuple[str, int, int, int, float, float, float, float, int]


class Store(WriteFaults):
    """A thread-safe handle on the SQLite file (one connection, one lock).

    Args:
        path: the SQLite file (``:memory:`` for none).
        max_findings: findings kept in the file, and in the backlog during a fault.
        max_pending_series_rows: series rows kept in the backlog during a fault.
        clock: wall clock in ns, for when a fault began.
    """

    def __init__(
        self,
        path: str | Path,
        max_findings: int = 100_000,
        max_pending_series_rows: int = 100_000,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.path = str(path)
        self.max_findings = max_findings
        self.max_pending_series_rows = max_pending_series_rows
        self.clock = clock
        self._lock = threading.Lock()
        self._pending_lock = threading.RLock()  # held while the backlog is written
        self._pending_findings: deque[Finding] = deque()
        self._pending_series: deque[SeriesWrite] = deque()
        self._pending_series_rows = 0
        self.fault: StoreFault | None = None
        self.write_errors = 0
        self.dropped_findings = 0
        self.dropped_series_rows = 0
        self.recoveries = 0
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from None

    @property
    def schema_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return version

    def _migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"store {self.path} has schema version {current}, newer than this "
                f"otel-perf understands ({len(MIGRATIONS)}); upgrade otel-perf"
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            with self._transaction() as db:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLITE_FULL and friends roll back themselves
                    self._db.execute("ROLLBACK")
                raise

    # -- findings -----------------------------------------------------------
    def add_findings(self, findings: list[Finding]) -> None:
        """Write findings; during a fault they wait in the backlog (oldest dropped past
        ``max_findings``, counted in ``dropped_findings``)."""
        if not findings:
            return
        with self._pending_lock:
            self._pending_findings.extend(findings)
            while len(self._pending_findings) > self.max_findings:
                self._pending_findings.popleft()
                self.dropped_findings += 1
            self.catch_up()

    def findings(
        self,
        kind: str | None = None,
        service: str | None = None,
        since_ns: int = 0,
        limit: int = 100,
    ) -> list[Finding]:
        query = "SELECT body FROM findings WHERE time_ns >= ?"
        args: list[Any] = [since_ns]
        if kind:
            query += " AND kind = ?"
            args.append(kind)
        if service:
            query += " AND service = ?"
            args.append(service)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._pending_lock:  # not yet written (a fault): newer than every row
            waiting = [
                f
                for f in reversed(self._pending_findings)
                if f.time_ns >= since_ns
                and (not kind or f.kind.value == kind)
                and (not service or f.service == service)
            ][:limit]
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        stored = [Finding.model_validate_json(row[0]) for row in rows]
        return (waiting + stored)[:limit]

    # -- series -------------------------------------------------------------
    def add_series(
        self, resolution_s: int, start_ns: int, rows: list[tuple[str, str, Any]]
    ) -> None:
        """Store one closed interval: rows of (service, key, JSON-ready body). During a
        fault it waits in the backlog (oldest intervals dropped past the row bound)."""
        with self._pending_lock:
            self._pending_series.append((resolution_s, start_ns, rows))
            self._pending_series_rows += len(rows)
            while self._pending_series_rows > self.max_pending_series_rows:
                dropped = len(self._pending_series.popleft()[2])
                self._pending_series_rows -= dropped
                self.dropped_series_rows += dropped
            self.catch_up()

    def series(
        self, resolution_s: int, since_ns: int = 0, service: str | None = None
    ) -> list[tuple[int, str, Any]]:
        """(start_ns, key, body) rows at ``resolution_s`` from ``since_ns`` on, oldest first."""
        query = "SELECT start_ns, key, body FROM series WHERE resolution_s = ? AND start_ns >= ?"
        args: list[Any] = [resolution_s, since_ns]
        if service is not None:
            query += " AND service = ?"
            args.append(service)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY start_ns", args).fetchall()
        return [(start, key, json.loads(body)) for start, key, body in rows]

    def expire_series(self, resolution_s: int, before_ns: int) -> int:
        """Delete rows older than ``before_ns``; returns how many went (0 during a fault:
        the next expiry catches up)."""
        try:
            return self._write(
                "expire series",
                lambda db: (
                    db.execute(
                        "DELETE FROM series WHERE resolution_s = ? AND start_ns < ?",
                        (resolution_s, before_ns),
                    ).rowcount
                ),
            )
        except StoreWriteError:
            return 0

    # -- usage (capacity) ---------------------------------------------------
    def add_usage(self, component: str, rows: list[UsageRow]) -> None:
        """Merge bucket aggregates ``(resource, resolution_s, start_ns, count, sum, min, max,
        last, last_ns)`` into what is stored (counts and sums add up, the later last wins).

        Raises:
            StoreWriteError: on a disk fault; nothing was merged, so the caller keeps the rows.
        """
        self._write(
            "add usage",
            lambda db: db.executemany(
                "INSERT INTO usage (component, resource, resolution_s, start_ns, count, sum,"
                " min, max, last, last_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (component, resource, resolution_s, start_ns) DO UPDATE SET"
                " count = count + excluded.count, sum = sum + excluded.sum,"
                " min = MIN(min, excluded.min), max = MAX(max, excluded.max),"
                " last = CASE WHEN excluded.last_ns >= last_ns THEN excluded.last ELSE last END,"
                " last_ns = MAX(last_ns, excluded.last_ns)",
                [(component, *row) for row in rows],
            ),
        )

    def usage(
        self, component: str, resource: str, resolution_s: int, since_ns: int = 0
    ) -> list[tuple[int, int, float, float, float, float, int]]:
        """(start_ns, count, sum, min, max, last, last_ns) rows, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT start_ns, count, sum, min, max, last, last_ns FROM usage"
                " WHERE component = ? AND resource = ? AND resolution_s = ? AND start_ns >= ?"
                " ORDER BY start_ns",
                (component, resource, resolution_s, since_ns),
            ).fetchall()
        return [tuple(row) for row in rows]

    def expire_usage(self, component: str, resolution_s: int, before_ns: int) -> int:
        """Delete ``component``'s rows at ``resolution_s`` older than ``before_ns`` (0 during
        a fault: the next expiry catches up)."""
        query = "DELETE FROM usage WHERE component = ? AND resolution_s = ? AND start_ns < ?"
        try:
            return self._write(
                "expire usage",
                lambda db: db.execute(query, (component, resolution_s, before_ns)).rowcount,
            )
        except StoreWriteError:
            return 0

    # -- component state ----------------------------------------------------
    def save_state(self, component: str, name: str, body: Any, now_ns: int) -> None:
        """Replace one state document.

        Raises:
            StoreWriteError: on a disk fault; the caller keeps it dirty and saves it again.
        """
        text = json.dumps(body, separators=(",", ":"))
        self._write(
            f"save {component} {name}",
            lambda db: db.execute(
                "INSERT INTO component_state (component, name, updated_ns, body)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (component, name)"
                " DO UPDATE SET updated_ns = excluded.updated_ns, body = excluded.body",
                (component, name, now_ns, text),
            ),
        )

    def load_state(self, component: str, name: str) -> Any:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM component_state WHERE component = ? AND name = ?",
                (component, name),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def close(self) -> None:
        if not self.catch_up():  # the last chance for the backlog: say what is lost
            log.error(
                "store %s: closing during a fault; %d findings and %d series rows not written",
                self.path,
                len(self._pending_findings),
                self._pending_series_rows,
            )
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError as exc:  # read-only or full: the WAL stays as it is
                log.warning("store %s: no checkpoint at close: %s", self.path, exc)
            finally:
                self._db.close()
