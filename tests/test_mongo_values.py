"""Prop texts written by the MongoDB store agree with the embedded store's SQL rendering for every kind
of value, doubles of any magnitude included (checked against SQLite's own json_extract + CAST)."""

from __future__ import annotations

import random
import sqlite3
import struct

import orjson

from storage.mongo.values import prop_text, prop_texts


def sqlite_text(value: object) -> str:
    conn = sqlite3.connect(":memory:")
    doc = orjson.dumps({"x": value}).decode()
    row = conn.execute(
        "SELECT CASE json_type(?, '$.x') WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
        " ELSE CAST(json_extract(?, '$.x') AS TEXT) END",
        (doc, doc),
    ).fetchone()
    conn.close()
    return str(row[0])


def test_known_values() -> None:
    for value, text in [
        (2.0, "2.0"),
        (1e-05, "1.0e-05"),
        (1.5, "1.5"),
        (3, "3"),
        (True, "true"),
        (False, "false"),
    ]:
        assert prop_text(value) == text == sqlite_text(value)


def test_random_doubles_match_sqlite() -> None:
    rng = random.Random(6)
    values: list[object] = [-0.0, 0.0, 5e-324, 1.7976931348623157e308, 1 / 3, 123456789012345678.0, 2**63 - 1]
    while len(values) < 3000:
        value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if value == value and abs(value) != float("inf"):
            values.append(value)
        values.append(round(rng.uniform(-1e4, 1e4), rng.randrange(0, 6)))
    for value in values:
        assert prop_text(value) == sqlite_text(value), value


def test_strings_carry_no_separate_text() -> None:
    assert prop_texts({"a": "x", "b": 2, "c": 2.5}) == {"b": "2", "c": "2.5"}
