"""Multi-row INSERT statements for the SQLite writer thread.

`executemany` steps its statement once per row, and every step releases the GIL and takes it back. On a
writer thread that shares its process with a busy IOLoop, taking the GIL back waits until the loop
thread lets go (up to the 5 ms switch interval), once per row: a 500-row append measured ~1,000x slower
beside a thread that never blocks. One `INSERT ... VALUES (...), (...), ...` statement binds many rows
and steps once, so the writer waits for the GIL once per chunk instead.

Statements have fixed sizes (512, 256, ..., 1 rows) so that SQLite's statement cache keeps every one of
them prepared: preparing a 512-row statement costs as much as running it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

MAX_ROWS = 512
MAX_PARAMETERS = 32_766  # SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32


@lru_cache(maxsize=256)
def _statement(head: str, width: int, rows: int, tail: str) -> str:
    marks = "(" + ", ".join("?" * width) + ")"
    return f"{head} VALUES {', '.join([marks] * rows)}{tail}"


def _chunk_sizes(width: int) -> list[int]:
    size = MAX_ROWS
    while size * width > MAX_PARAMETERS:
        size //= 2
    sizes = []
    while size:
        sizes.append(size)
        size //= 2
    return sizes


def insert_rows(conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]], *, tail: str = "") -> int:
    """Run `head VALUES (?, ...), ... tail` over `rows` (all of one width) in as few fixed-size
    statements as possible, in row order; returns the number of rows SQLite reports changed."""
    if not rows:
        return 0
    width = len(rows[0])
    changed = 0
    start = 0
    for size in _chunk_sizes(width):
        while len(rows) - start >= size:
            chunk = rows[start : start + size]
            cursor = conn.execute(_statement(head, width, size, tail), list(chain.from_iterable(chunk)))
            changed += cursor.rowcount
            start += size
    return changed
