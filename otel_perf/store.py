"""SQLite (WAL) store for everything that must survive a restart.

Migrations are numbered; ``PRAGMA user_version`` records the last applied.
Processors keep their state as JSON documents under their component id
(``save_state`` / ``load_state``); findings have a table of their own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otel_perf.findings import Finding

MIGRATIONS: tuple[str, ...] = (
    # 1: findings and component state
    """
    CREATE TABLE findings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        service TEXT NOT NULL,
        subject TEXT NOT NULL,
        time_ns INTEGER NOT NULL,
        state TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX findings_time ON findings (time_ns);
    CREATE INDEX findings_kind_service ON findings (kind, service);
    CREATE TABLE component_state (
        component TEXT NOT NULL,
        name TEXT NOT NULL,
        updated_ns INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (component, name)
    );
    """,
    # 2: rolled-up series (span metrics at 1 min and 1 h)
    """
    CREATE TABLE series (
        resolution_s INTEGER NOT NULL,
        start_ns INTEGER NOT NULL,
        service TEXT NOT NULL,
        key TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (resolution_s, start_ns, key)
    );
    CREATE INDEX series_service ON series (resolution_s, service, start_ns);
    """,
)


class StoreError(RuntimeError):
    """The store file cannot be opened or is newer than this program."""


class Store:
    """A thread-safe handle on the SQLite file (one connection, one lock)."""

    def __init__(self, path: str | Path, max_findings: int = 100_000) -> None:
        self.path = str(path)
        self.max_findings = max_findings
        self._lock = threading.Lock()
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
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- findings -----------------------------------------------------------
    def add_findings(self, findings: list[Finding]) -> None:
        if not findings:
            return
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
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO findings (key, kind, severity, service, subject, time_ns, state, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            # bounded: keep the newest max_findings rows
            db.execute(
                "DELETE FROM findings WHERE id <= (SELECT MAX(id) FROM findings) - ?",
                (self.max_findings,),
            )

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
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [Finding.model_validate_json(row[0]) for row in rows]

    # -- series -------------------------------------------------------------
    def add_series(
        self, resolution_s: int, start_ns: int, rows: list[tuple[str, str, Any]]
    ) -> None:
        """Store one closed interval: rows of (service, key, JSON-ready body)."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO series (resolution_s, start_ns, service, key, body)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (resolution_s, start_ns, service, key, json.dumps(body, separators=(",", ":")))
                    for service, key, body in rows
                ],
            )

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
        """Delete rows older than ``before_ns``; returns how many went."""
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM series WHERE resolution_s = ? AND start_ns < ?",
                (resolution_s, before_ns),
            )
            return cursor.rowcount

    # -- component state ----------------------------------------------------
    def save_state(self, component: str, name: str, body: Any, now_ns: int) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO component_state (component, name, updated_ns, body)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (component, name)"
                " DO UPDATE SET updated_ns = excluded.updated_ns, body = excluded.body",
                (component, name, now_ns, json.dumps(body, separators=(",", ":"))),
            )

    def load_state(self, component: str, name: str) -> Any:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM component_state WHERE component = ? AND name = ?",
                (component, name),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()
