"""A Starlette app with a real SQLite database and two classic performance mistakes.

- ``GET /authors/{id}/books``: an N+1. One query for the author's book ids, then
  one query per book, one after another (15 books per author).
- ``GET /report``: a slow query. A recursive CTE generates ``SQLITE_APP_REPORT_DAYS``
  rows (default 200,000) and cross-joins them with all 60 books before grouping:
  12 million rows, about 1.7 s of SQLite time on a modest 2-core VM (well over the
  bottlenecks processor's default 500 ms slow-query p95 on faster machines too).
  Deterministic, no sleep; the row count is a literal, so the fingerprint does not
  depend on it.
- ``GET /fast``: one indexed lookup.

The database (authors and books) is created at start-up, in
``$SQLITE_APP_DB`` when set, else in a temporary directory removed at shutdown.
Each request opens its own connection with the standard ``sqlite3`` module.

Run it under auto-instrumentation, exporting to a local otel-perf::

    pip install opentelemetry-instrumentation-sqlite3
    OTEL_SERVICE_NAME=library OTEL_TRACES_EXPORTER=otlp OTEL_METRICS_EXPORTER=none \\
    OTEL_LOGS_EXPORTER=none OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
    opentelemetry-instrument uvicorn sqlite_app:app --app-dir examples --port 8000

``opentelemetry-instrument`` runs the sqlite3 instrumentor before the app is
imported; it wraps ``sqlite3.connect``, so the connections opened here hand out
cursors whose ``execute`` makes CLIENT spans with ``db.system=sqlite`` and
``db.statement``. (Only cursors are traced: ``Connection.execute`` bypasses the
wrapper, so every query below goes through ``connection.cursor()``.) The server
spans come from opentelemetry-instrumentation-asgi's middleware, named after the
matched route as in ``asgi_app.py``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from route_naming import RouteNaming
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

AUTHORS = 4
BOOKS_PER_AUTHOR = 15
DEFAULT_REPORT_DAYS = 200_000

BOOK_IDS_SQL = "SELECT id FROM books WHERE author_id = ? ORDER BY id"
# Rendered with the id inlined, the way a naive lazy loader does: each statement
# differs, and only the fingerprint (literals -> ?) shows they are one query.
BOOK_SQL = "SELECT id, title, year FROM books WHERE id = {book_id}"
REPORT_SQL = """\
WITH RECURSIVE day(n) AS (
    SELECT 0 UNION ALL SELECT n + 1 FROM day WHERE n < {days}
)
SELECT b.author_id, count(*) AS copies, sum((b.id * 7919 + day.n) % 13) AS revenue
FROM books AS b CROSS JOIN day
GROUP BY b.author_id
ORDER BY revenue DESC
"""
FAST_SQL = "SELECT name FROM authors WHERE id = ?"

_state: dict[str, Any] = {}


def create_database(path: Path) -> None:
    """(Re)create the authors and books tables with a fixed, small data set."""
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(
            """
            DROP TABLE IF EXISTS books;
            DROP TABLE IF EXISTS authors;
            CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            CREATE TABLE books (
                id INTEGER PRIMARY KEY,
                author_id INTEGER NOT NULL REFERENCES authors (id),
                title TEXT NOT NULL,
                year INTEGER NOT NULL
            );
            CREATE INDEX books_author ON books (author_id);
            """
        )
        authors = [(a, f"Author {a}") for a in range(1, AUTHORS + 1)]
        books = [
            (book, author, f"Book {book} by author {author}", 1950 + book % 70)
            for author in range(1, AUTHORS + 1)
            for book in range((author - 1) * BOOKS_PER_AUTHOR + 1, author * BOOKS_PER_AUTHOR + 1)
        ]
        connection.executemany("INSERT INTO authors VALUES (?, ?)", authors)
        connection.executemany("INSERT INTO books VALUES (?, ?, ?, ?)", books)
        connection.commit()


@contextmanager
def cursor() -> Iterator[Any]:
    """A cursor on a fresh connection (per request, so threads never share one)."""
    connection = sqlite3.connect(_state["path"])  # sqlite3.connect: instrumented
    try:
        cur = connection.cursor()
        try:
            yield cur
        finally:
            cur.close()
    finally:
        connection.close()


def author_books(request: Request) -> JSONResponse:
    """The N+1: the ids first, then every book on its own."""
    text = str(request.path_params["id"])
    if not text.isdigit():
        return JSONResponse({"error": "no such author"}, status_code=404)
    author_id = int(text)
    with cursor() as cur:
        cur.execute(BOOK_IDS_SQL, (author_id,))
        ids = [int(row[0]) for row in cur.fetchall()]
        if not ids:
            return JSONResponse({"error": "no such author"}, status_code=404)
        books = []
        for book_id in ids:
            cur.execute(BOOK_SQL.format(book_id=book_id))
            book, title, year = cur.fetchone()
            books.append({"id": book, "title": title, "year": year})
    return JSONResponse({"author": author_id, "books": books})


def report(request: Request) -> JSONResponse:
    """The slow query: millions of generated rows, grouped."""
    days = int(os.environ.get("SQLITE_APP_REPORT_DAYS", DEFAULT_REPORT_DAYS))
    with cursor() as cur:
        cur.execute(REPORT_SQL.format(days=days))
        rows = cur.fetchall()
    body = [{"author": a, "copies": c, "revenue": r} for a, c, r in rows]
    return JSONResponse({"report": body})


def fast(request: Request) -> JSONResponse:
    with cursor() as cur:
        cur.execute(FAST_SQL, (1,))
        (name,) = cur.fetchone()
    return JSONResponse({"author": name})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Create the database before serving; remove it afterwards if it was temporary."""
    configured = os.environ.get("SQLITE_APP_DB")
    scratch = None if configured else tempfile.mkdtemp(prefix="sqlite-app-")
    path = Path(configured) if configured else Path(str(scratch)) / "library.db"
    create_database(path)
    _state["path"] = path
    try:
        yield
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


routes = [
    Route("/authors/{id}/books", author_books),
    Route("/report", report),
    Route("/fast", fast),
]
app = OpenTelemetryMiddleware(RouteNaming(Starlette(routes=routes, lifespan=lifespan)))
