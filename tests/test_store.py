"""The SQLite store: migrations, findings round trip and bound, component state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.store import MIGRATIONS, Store, StoreError


def finding(i: int) -> Finding:
    return Finding(
        kind=Kind.SLO_VIOLATION,
        severity=Severity.CRITICAL,
        service="checkout",
        subject=f"availability-{i}",
        time_ns=i,
        summary="burning",
        attributes={"burn_rate": 14.4},
        evidence={"trace_ids": ["ab" * 16]},
    )


def test_wal_and_schema_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store.schema_version == len(MIGRATIONS)
    mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()


def test_findings_survive_reopen_and_filter(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.add_findings([finding(1), finding(2)])
    store.close()
    again = Store(tmp_path / "s.db")
    got = again.findings(kind="slo_violation", service="checkout")
    assert [f.subject for f in got] == ["availability-2", "availability-1"]
    assert got[0] == finding(2)
    assert again.findings(kind="anomaly_detected") == []
    again.close()


def test_findings_are_bounded(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", max_findings=3)
    store.add_findings([finding(i) for i in range(10)])
    assert [f.time_ns for f in store.findings(limit=100)] == [9, 8, 7]
    store.close()


def test_component_state_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.save_state("slo/checkout", "windows", {"good": [1, 2], "total": [3, 4]}, now_ns=5)
    store.save_state("slo/checkout", "windows", {"good": [9]}, now_ns=6)
    assert store.load_state("slo/checkout", "windows") == {"good": [9]}
    assert store.load_state("slo/other", "windows") is None
    store.close()


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 999")
    db.close()
    with pytest.raises(StoreError, match="newer than this otel-perf understands"):
        Store(path)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        Store(path)
