"""DocumentStore conformance: every implementation behaves the same."""

from __future__ import annotations

from typing import Any

import pytest

from storage.errors import DuplicateKeyError


async def test_insert_get_roundtrip_keeps_types(docs: Any) -> None:
    doc = {
        "id": "u1",
        "email": "a@example.com",
        "n": 3,
        "ok": True,
        "tags": ["x"],
        "nested": {"a": 1},
        "none": None,
    }
    await docs.insert("users", doc)
    assert await docs.get("users", "u1") == doc
    assert await docs.get("users", "missing") is None


async def test_duplicate_id_and_unique_fields_raise_typed_error(docs: Any) -> None:
    await docs.insert("users", {"id": "u1", "email": "a@example.com"})
    with pytest.raises(DuplicateKeyError) as by_id:
        await docs.insert("users", {"id": "u1", "email": "b@example.com"})
    assert by_id.value.fields == ("id",)
    with pytest.raises(DuplicateKeyError) as by_email:
        await docs.insert("users", {"id": "u2", "email": "a@example.com"})
    assert by_email.value.fields == ("email",)
    # compound uniqueness: same name on another site is fine, same site is not
    await docs.insert("metric_configs", {"id": "m1", "site_id": "s1", "name": "x"})
    await docs.insert("metric_configs", {"id": "m2", "site_id": "s2", "name": "x"})
    with pytest.raises(DuplicateKeyError) as compound:
        await docs.insert("metric_configs", {"id": "m3", "site_id": "s1", "name": "x"})
    assert compound.value.fields == ("site_id", "name")
    assert await docs.count("metric_configs", {}) == 2


async def test_find_filters_sorts_and_limits(docs: Any) -> None:
    for i in range(5):
        await docs.insert("sites", {"id": f"s{i}", "owner_id": "o1" if i % 2 == 0 else "o2", "rank": 5 - i})
    owned = await docs.find("sites", {"owner_id": "o1"}, sort="rank")
    assert [d["id"] for d in owned] == ["s4", "s2", "s0"]
    top = await docs.find("sites", {}, sort="rank", descending=True, limit=2)
    assert [d["id"] for d in top] == ["s0", "s1"]
    assert await docs.find("sites", {"owner_id": "nobody"}) == []
    assert [d["id"] for d in await docs.find("sites", {"id": "s3"})] == ["s3"]
    assert await docs.count("sites", {"owner_id": "o2"}) == 2


async def test_filter_on_booleans_and_null(docs: Any) -> None:
    await docs.insert(
        "api_keys", {"id": "k1", "lookup": "l1", "site_id": "s", "active": True, "revoked_at": None}
    )
    await docs.insert(
        "api_keys", {"id": "k2", "lookup": "l2", "site_id": "s", "active": False, "revoked_at": 5}
    )
    assert [d["id"] for d in await docs.find("api_keys", {"active": True})] == ["k1"]
    assert [d["id"] for d in await docs.find("api_keys", {"active": False})] == ["k2"]
    assert [d["id"] for d in await docs.find("api_keys", {"revoked_at": None})] == ["k1"]


async def test_update_is_compare_and_set(docs: Any) -> None:
    await docs.insert("refresh_families", {"id": "f1", "user_id": "u", "current": "a", "revoked": False})
    assert await docs.update("refresh_families", {"id": "f1", "current": "a"}, {"current": "b"}) == 1
    # a second writer holding the old value loses
    assert await docs.update("refresh_families", {"id": "f1", "current": "a"}, {"current": "c"}) == 0
    doc = await docs.get("refresh_families", "f1")
    assert doc is not None and doc["current"] == "b"
    assert (
        await docs.update("refresh_families", {"user_id": "u"}, {"revoked": True, "meta": {"why": "x"}}) == 1
    )
    doc = await docs.get("refresh_families", "f1")
    assert doc is not None and doc["revoked"] is True and doc["meta"] == {"why": "x"}


async def test_update_into_unique_violation_raises(docs: Any) -> None:
    await docs.insert("users", {"id": "u1", "email": "a@example.com"})
    await docs.insert("users", {"id": "u2", "email": "b@example.com"})
    with pytest.raises(DuplicateKeyError):
        await docs.update("users", {"id": "u2"}, {"email": "a@example.com"})
    doc = await docs.get("users", "u2")
    assert doc is not None and doc["email"] == "b@example.com"


async def test_delete_returns_count(docs: Any) -> None:
    for i in range(3):
        await docs.insert("members", {"id": f"m{i}", "site_id": "s1", "user_id": f"u{i}"})
    assert await docs.delete("members", {"site_id": "s1", "user_id": "u1"}) == 1
    assert await docs.delete("members", {"site_id": "s1"}) == 2
    assert await docs.count("members", {}) == 0


@pytest.mark.parametrize(
    "where",
    [{"$where": "1"}, {"email": {"$gt": ""}}, {"a.b": 1}, {"email": ["x"]}],
)
async def test_operator_injection_is_refused(docs: Any, where: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        await docs.find("users", where)


async def test_documents_with_operator_keys_are_refused(docs: Any) -> None:
    with pytest.raises(ValueError):
        await docs.insert("users", {"id": "u1", "$set": {"a": 1}})
    with pytest.raises(ValueError):
        await docs.insert("users", {"id": "u1", "profile": {"a.b": 1}})
    with pytest.raises(ValueError):
        await docs.update("users", {"id": "u1"}, {"$inc": 1})
    assert await docs.count("users", {}) == 0


async def test_unknown_collection_is_refused(docs: Any) -> None:
    with pytest.raises(ValueError):
        await docs.insert("nope", {"id": "x"})


async def test_ping(docs: Any) -> None:
    await docs.ping()
