"""The stats parameters are read into the one `StatsParams` by msgspec: query-string text becomes typed
values, empty values count as absent, and a bad value answers a sentence naming the parameter."""

from __future__ import annotations

import pytest

from domain.errors import Invalid
from domain.stats.funnels import MAX_WINDOW_S
from domain.stats.query import MAX_PARAM_LENGTH, StatsParams, parse_query, read_params

NOW_MS = 1_764_000_000_000  # 2025-11-24


def test_text_becomes_typed_values_and_empty_ones_are_absent() -> None:
    params = read_params(
        {"from": "2025-01-01", "limit": "25", "window": "3600", "with_imported": "true", "interval": ""}
    )
    assert params == StatsParams(from_="2025-01-01", limit=25, window=3600, with_imported=True)
    assert read_params({"filters": ["country==DE", "page==/a"]}).filters == ["country==DE", "page==/a"]
    assert read_params({"unknown": "x", "_": "123"}) == StatsParams()  # others are not ours to judge


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"limit": "many"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"window": str(MAX_WINDOW_S + 1)}, "window"),
        ({"with_imported": "maybe"}, "with_imported"),
        ({"tz": "x" * (MAX_PARAM_LENGTH + 1)}, "tz"),
        ({"filters": ["country==DE", "p" * (MAX_PARAM_LENGTH + 1)]}, "filters"),
    ],
)
def test_a_bad_value_answers_a_sentence_naming_the_parameter(raw: dict, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        read_params(raw)
    error = caught.value
    assert error.status == 422 and list(error.fields) == [field]
    assert error.message.startswith(f"The {field} parameter must be ") and error.message.endswith(".")
    assert "`" not in error.message and "$" not in error.message  # no type names or JSON paths


def test_parse_query_reads_through_the_same_struct() -> None:
    query = parse_query({"limit": "7", "with_imported": "TRUE", "by": "page"}, ["country==DE"], now_ms=NOW_MS)
    assert (query.limit, query.with_imported, query.by, len(query.filters)) == (7, True, "page", 1)
    assert parse_query({}, now_ms=NOW_MS).limit == 10
    with pytest.raises(Invalid) as caught:
        parse_query({"limit": "ten"}, now_ms=NOW_MS)
    assert caught.value.fields == {"limit": "a whole number from 1 to 1000"}
