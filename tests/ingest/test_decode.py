"""The event decoder under arbitrary input: it returns events or raises a domain 4xx, nothing else."""

from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.ingest.decode import (
    ID_PATTERN,
    KEY_PATTERN,
    MAX_EVENTS,
    decode_message,
    decode_payload,
    event_time,
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
FIELDS = st.sampled_from(
    ["name", "id", "url", "referrer", "ts", "props", "traits", "events", "k", "session_id"]
)
EVENTISH = st.dictionaries(FIELDS, JSON, max_size=8)


def _check(body: bytes) -> None:
    try:
        events, key = decode_payload(body)
    except DomainError as error:
        assert 400 <= error.status < 500 and error.message
        return
    assert 1 <= len(events) <= MAX_EVENTS
    assert key is None or isinstance(key, str)
    for event in events:
        assert isinstance(event.name, str) and event.name
        assert len(event.props) <= 30
        assert all(isinstance(v, str | int | float | bool) for v in event.props.values())
        assert all(re.fullmatch(KEY_PATTERN, key) for key in event.props)
        for value in (event.id, event.session_id):
            assert value is None or re.fullmatch(ID_PATTERN, value), value
        try:
            event_time(event.ts, 1_800_000_000_000, "ts")
        except DomainError as error:
            assert error.status == 422


@pytest.mark.reliability
@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_json_value(value: object) -> None:
    _check(orjson.dumps(value))


@pytest.mark.reliability
@settings(max_examples=120, deadline=None)
@given(EVENTISH, st.lists(EVENTISH, max_size=4))
def test_event_shaped_objects(top: dict[str, object], batch: list[dict[str, object]]) -> None:
    _check(orjson.dumps(top))
    _check(orjson.dumps({"events": batch}))
    try:
        decode_message(orjson.dumps({"id": "m1", "events": batch}))
    except DomainError as error:
        assert 400 <= error.status < 500


@pytest.mark.reliability
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(body: bytes) -> None:
    _check(body)


@pytest.mark.reliability
def test_numbers_beyond_64_bits_are_refused() -> None:
    _check(b'{"name":"x","props":{"a":123456789012345678901234567890}}')
    _check(b'{"name":"x","ts":123456789012345678901234567890}')


IDISH = st.text(alphabet=st.sampled_from("aZ09_-:.\n é$/ \t"), min_size=0, max_size=70)


@pytest.mark.reliability
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(IDISH, IDISH, IDISH), min_size=1, max_size=6))
def test_ids_and_prop_keys_outside_their_alphabet_are_refused(rows: list[tuple[str, str, str]]) -> None:
    events = [{"name": "e", "id": a, "session_id": b, "props": {c: 1}} for a, b, c in rows]
    bad = any(
        not re.fullmatch(ID_PATTERN, a) or not re.fullmatch(ID_PATTERN, b) or not re.fullmatch(KEY_PATTERN, c)
        for a, b, c in rows
    )
    try:
        decoded, _ = decode_payload(orjson.dumps({"events": events}))
    except DomainError as error:
        assert bad and error.status == 422 and error.fields, error.message
    else:
        assert not bad and [e.id for e in decoded] == [a for a, _, _ in rows]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"name": "e", "id": "ok"}, None),
        ({"name": "e", "id": "two\nlines"}, "events[1].id"),
        ({"name": "e", "id": "trailing\n"}, "events[1].id"),
        ({"name": "e", "session_id": "has space"}, "events[1].session_id"),
        ({"name": "e", "props": {"bad.key": 1}}, "events[1].props"),
        ({"name": "e", "props": {"a\nb": 1}}, "events[1].props"),
        ({"id": "x"}, "events[1].name"),
    ],
)
def test_the_first_bad_field_is_named(event: dict[str, object], field: str | None) -> None:
    body = orjson.dumps({"events": [{"name": "fine", "id": "a-1", "props": {"k": 1}}, event]})
    if field is None:
        assert len(decode_payload(body)[0]) == 2
        return
    with pytest.raises(DomainError) as caught:
        decode_payload(body)
    assert caught.value.status == 422 and field in caught.value.fields, caught.value.fields
    with pytest.raises(DomainError) as over_ws:
        decode_message(orjson.dumps({"id": 1, "events": [{"name": "fine"}, event]}))
    assert field in over_ws.value.fields
