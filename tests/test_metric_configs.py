"""Metric declarations: Prometheus name and label rules, types, buckets, duplicates (409), roles and
ownership. Both deployments."""

from __future__ import annotations

from typing import Any

from tests.support.accounts import add_member, make_site, register, signup
from tests.support.modes import both_modes as app_config  # noqa: F401


async def _path(api: Any) -> tuple[str, str]:
    token = await signup(api)
    site = await make_site(api, token)
    return token, f"/api/v1/sites/{site['id']}/metrics"


async def test_declare_list_read_update_delete(api: Any) -> None:
    token, path = await _path(api)
    created = await api.post(
        path,
        json={
            "name": "checkout_seconds",
            "type": "histogram",
            "help": "Checkout duration",
            "labels": ["plan", "step"],
            "buckets": [0.1, 0.5, 1, 5],
        },
        token=token,
    )
    assert created.status == 201
    metric = created.json["metric"]
    assert metric["buckets"] == [0.1, 0.5, 1.0, 5.0] and metric["labels"] == ["plan", "step"]
    counter = await api.post(path, json={"name": "app:signups_total", "type": "counter"}, token=token)
    assert counter.status == 201 and counter.json["metric"]["labels"] == []
    listed = await api.get(path, token=token)
    assert [m["name"] for m in listed.json["metrics"]] == ["app:signups_total", "checkout_seconds"]
    one = await api.get(f"{path}/{metric['id']}", token=token)
    assert one.json["metric"] == metric
    changed = await api.patch(f"{path}/{metric['id']}", json={"help": "new", "buckets": [1, 2]}, token=token)
    assert changed.status == 200 and changed.json["metric"]["buckets"] == [1.0, 2.0]
    assert changed.json["metric"]["help"] == "new"
    assert (await api.delete(f"{path}/{metric['id']}", token=token, expect_json=False)).status == 204
    assert (await api.get(f"{path}/{metric['id']}", token=token)).status == 404


async def test_rules(api: Any) -> None:
    token, path = await _path(api)
    bad = [
        ({"name": "9starts_with_digit", "type": "counter"}, "name"),
        ({"name": "has-dash", "type": "counter"}, "name"),
        ({"name": "__reserved", "type": "gauge"}, "name"),
        ({"name": "ok", "type": "timer"}, "type"),
        ({"name": "ok", "type": "gauge", "labels": ["bad-label"]}, "labels[0]"),
        ({"name": "ok", "type": "gauge", "labels": ["a:b"]}, "labels[0]"),
        ({"name": "ok", "type": "gauge", "labels": ["__x"]}, "labels[0]"),
        ({"name": "ok", "type": "gauge", "labels": ["a", "a"]}, "labels"),
        ({"name": "ok", "type": "histogram", "labels": ["le"]}, "labels"),
        ({"name": "ok", "type": "summary", "labels": ["quantile"]}, "labels"),
        ({"name": "ok", "type": "gauge", "labels": [f"l{i}" for i in range(11)]}, "labels"),
        ({"name": "ok", "type": "counter", "buckets": [1, 2]}, "buckets"),
        ({"name": "ok", "type": "histogram", "buckets": [2, 1]}, "buckets"),
        ({"name": "ok", "type": "histogram", "buckets": []}, "buckets"),
        ({"name": "ok", "type": "counter", "site_id": "x"}, "$"),
    ]
    for body, field in bad:
        answer = await api.post(path, json=body, token=token)
        assert answer.status == 422, (body, answer.json)
        fields = answer.json["error"]["fields"]
        assert field in fields or field == "$", (body, fields)
    assert (await api.get(path, token=token)).json["metrics"] == []


async def test_duplicate_name_conflicts(api: Any) -> None:
    token, path = await _path(api)
    first = await api.post(path, json={"name": "signups_total", "type": "counter"}, token=token)
    again = await api.post(path, json={"name": "signups_total", "type": "gauge"}, token=token)
    assert again.status == 409 and again.error_code == "name_taken"
    other = await api.post(path, json={"name": "other_total", "type": "counter"}, token=token)
    clash = await api.patch(
        f"{path}/{other.json['metric']['id']}", json={"name": "signups_total"}, token=token
    )
    assert clash.status == 409
    no_type_change = await api.patch(
        f"{path}/{first.json['metric']['id']}", json={"type": "gauge"}, token=token
    )
    assert no_type_change.status == 422
    # The same name on another site is fine.
    other_token, other_path = await _path(api)
    ok = await api.post(other_path, json={"name": "signups_total", "type": "counter"}, token=other_token)
    assert ok.status == 201


async def test_roles_and_ownership(api: Any) -> None:
    owner = await signup(api)
    viewer = await register(api)
    stranger = await signup(api)
    site = await make_site(api, owner)
    path = f"/api/v1/sites/{site['id']}/metrics"
    await add_member(api, owner, site["id"], viewer["user"]["email"], "viewer")
    created = await api.post(path, json={"name": "m", "type": "gauge"}, token=owner)
    one = f"{path}/{created.json['metric']['id']}"
    assert (await api.get(path, token=viewer["access_token"])).status == 200
    assert (
        await api.post(path, json={"name": "v", "type": "gauge"}, token=viewer["access_token"])
    ).status == 403
    assert (await api.delete(one, token=viewer["access_token"])).status == 403
    for answer in (
        await api.get(path, token=stranger),
        await api.get(one, token=stranger),
        await api.patch(one, json={"help": "x"}, token=stranger),
        await api.delete(one, token=stranger),
    ):
        assert answer.status == 404
