"""Prop texts written by the MongoDB store are the embedded engine's texts for every kind of value, doubles
of any magnitude included (checked against what DuckDB reads back from the engine's canonical props), and
two different doubles never share a text."""

from __future__ import annotations

import random
import struct

import duckdb
import orjson

from storage.embedded.columnar.segments import canonical_props
from storage.mongo.values import prop_text, prop_texts


def engine_texts(values: list[object]) -> list[str]:
    """What the embedded engine groups these values by: json_extract_string over its canonical props."""
    docs = [canonical_props(orjson.dumps({"x": value}).decode()) for value in values]
    with duckdb.connect() as duck:
        rows = duck.execute(
            "SELECT json_extract_string(d, '$.\"x\"') FROM unnest(?) AS t(d)", [docs]
        ).fetchall()
    return [str(row[0]) for row in rows]


def test_known_values() -> None:
    known = [(2.0, "2.0"), (1e-05, "1e-05"), (1.5, "1.5"), (3, "3"), (True, "true"), (False, "false"),
             (0.1 + 0.2, "0.30000000000000004")]  # fmt: skip
    assert [prop_text(value) for value, _ in known] == [text for _, text in known]
    assert engine_texts([value for value, _ in known]) == [text for _, text in known]


def test_random_doubles_match_the_engine_and_round_trip() -> None:
    rng = random.Random(6)
    values: list[object] = [-0.0, 0.0, 5e-324, 1.7976931348623157e308, 1 / 3, 123456789012345678.0, 2**63 - 1]
    while len(values) < 3000:
        value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if value == value and abs(value) != float("inf"):
            values.append(value)
        values.append(round(rng.uniform(-1e4, 1e4), rng.randrange(0, 6)))
    texts = [prop_text(value) for value in values]
    assert texts == engine_texts(values)
    for value, text in zip(values, texts, strict=True):
        assert (float(text) if isinstance(value, float) else int(text)) == value


def test_strings_carry_no_separate_text() -> None:
    assert prop_texts({"a": "x", "b": 2, "c": 2.5}) == {"b": "2", "c": "2.5"}
