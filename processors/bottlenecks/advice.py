"""What to do about a slow query, read from its fingerprint: the advice matches the cause.

* a function applied to a column in the predicate (``WHERE lower(email) = ?``) keeps
  an index on the column from being used: an expression index, or compare the column;
* a leading wildcard (``LIKE '%…'``): a trigram / full-text index;
* a ``SELECT`` without ``LIMIT`` and without a selective predicate: paginate;
* otherwise: an index on the predicate's columns, after reading the plan (EXPLAIN).
"""

from __future__ import annotations

import re

_PREDICATE = re.compile(r"\b(?:WHERE|ON|AND|OR)\s+(.*)", re.DOTALL)
_FUNCTION_ON_COLUMN = re.compile(r"\b([A-Za-z_][\w.]*)\(\s*[A-Za-z_][\w.]*\s*[,)]")
_LIKE = re.compile(r"\b(?:I?LIKE)\s+\?", re.IGNORECASE)
_SARGABLE_FUNCTIONS = frozenset({"IN", "ANY", "EXISTS", "NOT"})


def advise(fingerprint: str, statement_sample: str | None = None) -> tuple[str, str]:
    """(cause, advice) for a slow query.

    Args:
        fingerprint: the normalised statement.
        statement_sample: one raw statement, when known (a ``LIKE`` pattern's leading
            ``%`` is only visible there).

    Returns:
        A short cause key (``function_in_predicate``, ``leading_wildcard``,
        ``unbounded_select``, ``missing_index``) and the advice for a person.
    """
    upper = fingerprint.upper()
    predicate = _PREDICATE.search(fingerprint)
    if predicate is not None:
        for match in _FUNCTION_ON_COLUMN.finditer(predicate.group(1)):
            if match.group(1).upper() not in _SARGABLE_FUNCTIONS:
                name = match.group(1)
                return (
                    "function_in_predicate",
                    f"the predicate applies {name}() to a column, so an index on the column "
                    f"cannot be used: add an expression index on {name}(…) or compare the "
                    "stored value directly",
                )
    if _LIKE.search(fingerprint) and statement_sample and "'%" in statement_sample:
        return (
            "leading_wildcard",
            "LIKE with a leading wildcard scans every row: use a trigram or full-text index",
        )
    if upper.startswith("SELECT") and " LIMIT " not in upper and " WHERE " not in upper:
        return (
            "unbounded_select",
            "the query reads the whole table with no LIMIT: paginate (keyset pagination) or filter",
        )
    return (
        "missing_index",
        "read its plan (EXPLAIN ANALYZE) and index the columns of its predicate",
    )
