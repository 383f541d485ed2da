"""DocumentStore on SQLite: one table per collection holding JSON documents, with expression indexes
(`json_extract`) for the indexed and unique fields."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from storage.embedded.sqlite_runner import SqliteRunner
from storage.errors import DuplicateKeyError, opened
from storage.ports import (
    COLLECTION_NAMES,
    COLLECTIONS,
    Document,
    Scalar,
    check_document,
    check_filter,
)

_UNIQUE_INDEX = re.compile(r"index '(ux_\w+)'")


def _table(collection: str) -> str:
    if collection not in COLLECTION_NAMES:
        raise ValueError(f"unknown collection {collection!r}")
    return f"docs_{collection}"


def _field(name: str) -> str:
    # Field names are checked by check_filter/check_document (no quotes, dots or `$`), so this is safe.
    return f"json_extract(doc, '$.{name}')"


def _where(where: Mapping[str, Scalar]) -> tuple[str, list[Any]]:
    check_filter(where)
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in where.items():
        column = "id" if key == "id" else _field(key)
        if value is None:
            clauses.append(f"{column} IS NULL")
        else:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SqliteDocumentStore:
    """Documents in `<data_dir>/eddy.db`."""

    def __init__(self, data_dir: Path) -> None:
        self._path = Path(data_dir) / "eddy.db"
        self._runner: SqliteRunner | None = None
        self._unique_fields: dict[str, tuple[str, tuple[str, ...]]] = {}

    @property
    def runner(self) -> SqliteRunner:
        return opened(self._runner, "document store")

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._runner = SqliteRunner(self._path, threads=1, name="eddy-docs")
        await self._runner.run(self._create_schema)

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        for spec in COLLECTIONS:
            table = _table(spec.name)
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID"
            )
            for field in spec.indexed:
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS ix_{spec.name}_{field} ON {table} ({_field(field)})"
                )
            for fields in spec.unique:
                index = f"ux_{spec.name}_{'_'.join(fields)}"
                columns = ", ".join(_field(f) for f in fields)
                conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table} ({columns})")
                self._unique_fields[index] = (spec.name, fields)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    async def ping(self) -> None:
        await self.runner.run(lambda conn: conn.execute("SELECT 1").fetchone())

    def _duplicate(self, collection: str, error: sqlite3.IntegrityError) -> DuplicateKeyError:
        match = _UNIQUE_INDEX.search(str(error))
        if match and match.group(1) in self._unique_fields:
            name, fields = self._unique_fields[match.group(1)]
            return DuplicateKeyError(name, fields)
        return DuplicateKeyError(collection, ("id",))

    async def insert(self, collection: str, doc: Document) -> None:
        table = _table(collection)
        check_document(doc)
        doc_id = doc.get("id")
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError("document needs a string id")
        payload = orjson.dumps(doc)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(f"INSERT INTO {table} (id, doc) VALUES (?, ?)", (doc_id, payload))

        try:
            await self.runner.run(write)
        except sqlite3.IntegrityError as error:
            raise self._duplicate(collection, error) from None

    async def get(self, collection: str, doc_id: str) -> Document | None:
        table = _table(collection)
        row = await self.runner.run(
            lambda conn: conn.execute(f"SELECT doc FROM {table} WHERE id = ?", (doc_id,)).fetchone()
        )
        return orjson.loads(row[0]) if row else None

    async def find(
        self,
        collection: str,
        where: Mapping[str, Scalar],
        *,
        sort: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        table = _table(collection)
        clause, params = _where(where)
        sql = f"SELECT doc FROM {table}{clause}"
        if sort is not None:
            check_filter({sort: None})
            sql += f" ORDER BY {'id' if sort == 'id' else _field(sort)} {'DESC' if descending else 'ASC'}, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = await self.runner.run(lambda conn: conn.execute(sql, params).fetchall())
        return [orjson.loads(row[0]) for row in rows]

    async def count(self, collection: str, where: Mapping[str, Scalar]) -> int:
        table = _table(collection)
        clause, params = _where(where)
        row = await self.runner.run(
            lambda conn: conn.execute(f"SELECT COUNT(*) FROM {table}{clause}", params).fetchone()
        )
        return int(row[0])

    async def update(self, collection: str, where: Mapping[str, Scalar], changes: Mapping[str, Any]) -> int:
        table = _table(collection)
        if not changes:
            return await self.count(collection, where)
        check_document(changes)
        if "id" in changes:
            raise ValueError("id cannot change")
        clause, params = _where(where)
        setters = ", ".join(f"'$.{key}', json(?)" for key in changes)
        values = [orjson.dumps(value).decode() for value in changes.values()]
        # One statement: the match and the write are atomic, which makes compare-and-set safe.
        sql = f"UPDATE {table} SET doc = json_set(doc, {setters}){clause}"
        try:
            return await self.runner.run(lambda conn: conn.execute(sql, values + params).rowcount)
        except sqlite3.IntegrityError as error:
            raise self._duplicate(collection, error) from None

    async def delete(self, collection: str, where: Mapping[str, Scalar]) -> int:
        table = _table(collection)
        clause, params = _where(where)
        return await self.runner.run(
            lambda conn: conn.execute(f"DELETE FROM {table}{clause}", params).rowcount
        )
