"""Multi-row INSERT statements for the SQLite writer thread.

`executemany` steps its statement once per row, and every step releases the GIL and takes it back. On a
writer thread that shares its process with a busy IOLoop, taking the GIL back waits until the loop
thread lets go (up to the 5 ms switch interval), once per row: a 500-row append measured ~1,000x slower
beside a thread that never blocks. One `INSERT ... VALUES (...), (...), ...` statement binds many rows
and steps once, so the writer waits for the GIL once per chunk instead.

Statements have fixed sizes (512, 256, ..., 1 rows) so that SQLite's statement cache keeps every one of
them prepared: preparing a 512-row statement costs as much as running it.

`without_empty_columns` turns columns that are empty ('' or NULL) in every row of a batch (no UTM tags,
no user ids, no props) into literals in the statement instead of a parameter per row: binding is a good
part of a row's cost (SQLite copies each bound string), and the event store's writer pays it while it
holds the cross-process write lock. Each pattern of empty columns is its own set of cached statements; a
stream's batches mostly repeat one or two.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

MAX_ROWS = 512
MAX_PARAMETERS = 32_766  # SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32


_LITERALS = {"": "''", None: "NULL"}


@lru_cache(maxsize=256)
def _statement(head: str, marks: str, rows: int, tail: str) -> str:
    return f"{head} VALUES {', '.join([marks] * rows)}{tail}"


def without_empty_columns(
    rows: Sequence[Sequence[Any]], sparse: Sequence[int]
) -> tuple[str, Sequence[Sequence[Any]]]:
    """The row template for `insert_rows(marks=...)` (`?`, or a literal for each `sparse` column that is
    empty in every row) and the rows holding only the `?` columns. Pure Python: call it before taking
    any lock."""
    if not rows:
        return "", rows
    width = len(rows[0])
    marks = ["?"] * width
    columns = list(zip(*rows, strict=True))  # one C pass; each column is then checked by tuple.count
    for index in sparse:
        first = columns[index][0]
        if (first == "" or first is None) and columns[index].count(first) == len(rows):
            marks[index] = _LITERALS[first]
    bound = marks.count("?")
    if bound in (0, width):  # nothing to leave out, or nothing left to bind: plain rows
        return _plain(width), rows
    kept = (column for column, mark in zip(columns, marks, strict=True) if mark == "?")
    return "(" + ", ".join(marks) + ")", list(zip(*kept, strict=True))


def _plain(width: int) -> str:
    return "(" + ", ".join("?" * width) + ")"


def _chunk_sizes(width: int) -> list[int]:
    size = MAX_ROWS
    while size * width > MAX_PARAMETERS:
        size //= 2
    sizes = []
    while size:
        sizes.append(size)
        size //= 2
    return sizes


def insert_rows(
    conn: sqlite3.Connection,
    head: str,
    rows: Sequence[Sequence[Any]],
    *,
    tail: str = "",
    marks: str = "",
) -> int:
    """Run `head VALUES (?, ...), ... tail` over `rows` (all of one width) in as few fixed-size
    statements as possible, in row order; returns the number of rows SQLite reports changed. `marks`
    is the row template when it is not one `?` per value (see `without_empty_columns`)."""
    if not rows:
        return 0
    marks = marks or _plain(len(rows[0]))
    width = marks.count("?")
    changed = 0
    start = 0
    for size in _chunk_sizes(width):
        while len(rows) - start >= size:
            chunk = rows[start : start + size]
            cursor = conn.execute(_statement(head, marks, size, tail), list(chain.from_iterable(chunk)))
            changed += cursor.rowcount
            start += size
    return changed
