"""Multi-row INSERTs (storage/embedded/bulk.py): every row lands once, in order, whatever the count, and
the changed-row count matches what executemany would report; columns empty throughout a batch are
written as literals and still read back exactly."""

from __future__ import annotations

import sqlite3

import pytest

from storage.embedded import bulk
from storage.embedded.bulk import insert_rows, without_empty_columns


@pytest.fixture
def conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, k TEXT UNIQUE, n INTEGER)")
    return conn


@pytest.mark.parametrize("count", [0, 1, 2, 7, 511, 512, 513, 1000, 1537])
def test_every_row_lands_once_in_order(conn: sqlite3.Connection, count: int) -> None:
    rows = [(f"k{i}", i) for i in range(count)]
    assert insert_rows(conn, "INSERT INTO t (k, n)", rows) == count
    assert conn.execute("SELECT k, n FROM t ORDER BY seq").fetchall() == rows


def test_or_ignore_counts_only_new_rows(conn: sqlite3.Connection) -> None:
    insert_rows(conn, "INSERT INTO t (k, n)", [(f"k{i}", i) for i in range(0, 600, 2)])
    changed = insert_rows(conn, "INSERT OR IGNORE INTO t (k, n)", [(f"k{i}", i) for i in range(600)])
    assert changed == 300
    assert conn.execute("SELECT COUNT(*), SUM(n) FROM t").fetchone() == (600, sum(range(600)))


def test_upsert_tail_applies_to_every_chunk(conn: sqlite3.Connection) -> None:
    head, tail = "INSERT INTO t (k, n)", " ON CONFLICT (k) DO UPDATE SET n = n + excluded.n"
    insert_rows(conn, head, [(f"k{i}", 1) for i in range(700)], tail=tail)
    insert_rows(conn, head, [(f"k{i}", 10) for i in range(700)], tail=tail)
    assert conn.execute("SELECT COUNT(*), MIN(n), MAX(n) FROM t").fetchone() == (700, 11, 11)


def test_wide_rows_stay_under_the_parameter_limit(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "MAX_PARAMETERS", 100)  # 3 columns: at most 32 rows a statement
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)  # SQLite refuses more, so a bigger chunk fails
    conn.execute("CREATE TABLE w (a, b, c)")
    rows = [(i, i, i) for i in range(250)]
    assert insert_rows(conn, "INSERT INTO w (a, b, c)", rows) == 250
    assert conn.execute("SELECT COUNT(*) FROM w").fetchone() == (250,)


@pytest.fixture
def sparse_conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE s (seq INTEGER PRIMARY KEY, a TEXT NOT NULL, b TEXT NOT NULL, c TEXT, d TEXT)")
    return conn


def _insert_sparse(conn: sqlite3.Connection, rows: list[tuple], sparse: tuple[int, ...]) -> str:
    """Insert through `without_empty_columns`; returns the row template it chose."""
    marks, kept = without_empty_columns(rows, sparse)
    assert all(len(row) == marks.count("?") for row in kept)
    insert_rows(conn, "INSERT INTO s (a, b, c, d)", kept, marks=marks)
    return marks


@pytest.mark.parametrize("count", [1, 3, 513])
def test_columns_empty_throughout_become_literals_and_read_back(
    sparse_conn: sqlite3.Connection, count: int
) -> None:
    rows = [(f"a{i}", "", f"c{i}", None) for i in range(count)]
    marks = _insert_sparse(sparse_conn, rows, (1, 2, 3))
    assert marks == "(?, '', ?, NULL)"  # c has values, so it stays a parameter
    assert sparse_conn.execute("SELECT a, b, c, d FROM s ORDER BY seq").fetchall() == rows


def test_a_column_empty_in_only_some_rows_stays_bound(sparse_conn: sqlite3.Connection) -> None:
    rows = [("a0", "", "", None), ("a1", "b1", "", "d1"), ("a2", "", "", None)]
    marks = _insert_sparse(sparse_conn, rows, (1, 2, 3))
    assert marks == "(?, ?, '', ?)"
    assert sparse_conn.execute("SELECT a, b, c, d FROM s ORDER BY seq").fetchall() == rows


def test_empty_string_and_null_are_not_confused(sparse_conn: sqlite3.Connection) -> None:
    rows = [("a0", "", None, None), ("a1", "", "", None)]  # c mixes '' and NULL: it must stay bound
    marks = _insert_sparse(sparse_conn, rows, (1, 2, 3))
    assert marks == "(?, '', ?, NULL)"
    assert sparse_conn.execute("SELECT a, b, c, d FROM s ORDER BY seq").fetchall() == rows


def test_only_listed_columns_are_considered_and_one_parameter_always_remains(
    sparse_conn: sqlite3.Connection,
) -> None:
    rows = [("", "", "", None)] * 3
    assert without_empty_columns(rows, (1, 2))[0] == "(?, '', '', ?)"
    # Every column empty and listed: nothing would be left to bind, so the rows go in plainly.
    marks, kept = without_empty_columns(rows, (0, 1, 2, 3))
    assert (marks, kept) == ("(?, ?, ?, ?)", rows)
    insert_rows(sparse_conn, "INSERT INTO s (a, b, c, d)", kept, marks=marks)
    assert sparse_conn.execute("SELECT a, b, c, d FROM s").fetchall() == rows
