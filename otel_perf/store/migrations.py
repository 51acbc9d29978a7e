"""The store's schema: numbered migration scripts, applied in order by :class:`Store`.

``PRAGMA user_version`` records the last one applied; append new scripts, never edit one.
"""

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
    # 3: capacity usage history per component and resource (raw, 5 min and 1 h buckets)
    """
    CREATE TABLE usage (
        component TEXT NOT NULL,
        resource TEXT NOT NULL,
        resolution_s INTEGER NOT NULL,
        start_ns INTEGER NOT NULL,
        count INTEGER NOT NULL,
        sum REAL NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        last REAL NOT NULL,
        last_ns INTEGER NOT NULL,
        PRIMARY KEY (component, resource, resolution_s, start_ns)
    );
    CREATE INDEX usage_expiry ON usage (component, resolution_s, start_ns);
    """,
)
