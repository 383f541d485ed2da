"""Snippet generation: POST /api/v1/sites/{site_id}/snippet builds a CSP-friendly <script> tag with the
site's public key and Eddy's URL; secret, foreign and disabled keys and unknown options are refused."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from typing import Any

import pytest

from tests.support.accounts import add_member, make_key, make_site, register, signup
from tests.support.api import Api
from tracker.bundle import load_bundle


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_tag(snippet: str) -> dict[str, str | None]:
    """The attributes of the snippet's single <script> tag, which must hold no inline code."""
    parser = _Tags()
    parser.feed(snippet)
    assert [tag for tag, _ in parser.tags] == ["script"], snippet
    assert "".join(parser.text).strip() == "", "inline code would break under a strict CSP"
    assert snippet.endswith("></script>")
    return parser.tags[0][1]


async def owner_site(api: Api) -> tuple[str, dict[str, Any], dict[str, Any]]:
    token = await signup(api)
    site = await make_site(api, token, domain="shop.example")
    key = await make_key(api, token, site["id"], "public")
    return token, site, key


async def snippet(api: Api, token: str, site_id: str, body: dict[str, Any], **kwargs: Any) -> Any:
    return await api.post(f"/api/v1/sites/{site_id}/snippet", json=body, token=token, **kwargs)


async def test_default_snippet_loads_the_versioned_tracker_with_the_public_key(api: Api) -> None:
    token, site, key = await owner_site(api)
    answer = await snippet(api, token, site["id"], {"key_id": key["id"]})
    assert answer.status == 200, answer.json
    version = load_bundle().version
    assert answer.json["tracker_url"] == f"{api.base_url}/t.js?v={version}"
    attrs = parse_tag(answer.json["snippet"])
    assert attrs["src"] == answer.json["tracker_url"]
    assert attrs["data-key"] == key["key"] and key["key"].startswith("eddy_pk_")
    assert "defer" in attrs
    # Defaults are the tracker's own: nothing else is spelled out.
    assert set(attrs) == {"src", "data-key", "defer"}
    served = await api.get(answer.json["tracker_url"].removeprefix(api.base_url), expect_json=False)
    assert served.status == 200 and served.body == load_bundle().body


async def test_integrity_pins_the_tag_to_the_served_build(api: Api) -> None:
    token, site, key = await owner_site(api)
    default = parse_tag((await snippet(api, token, site["id"], {"key_id": key["id"]})).json["snippet"])
    assert "integrity" not in default and "crossorigin" not in default
    answer = await snippet(api, token, site["id"], {"key_id": key["id"], "integrity": True})
    assert answer.status == 200, answer.json
    attrs = parse_tag(answer.json["snippet"])
    # the hash is of the bytes /t.js really serves at the snippet's URL, and the fetch is CORS-mode
    served = await api.get(answer.json["tracker_url"].removeprefix(api.base_url), expect_json=False)
    assert served.status == 200 and served.headers["Access-Control-Allow-Origin"] == "*"
    digest = base64.b64encode(hashlib.sha384(served.body).digest()).decode()
    assert attrs["integrity"] == f"sha384-{digest}"
    assert attrs["crossorigin"] == "anonymous"
    assert attrs["src"] == answer.json["tracker_url"] and attrs["data-key"] == key["key"]


async def test_options_become_data_attributes(api: Api) -> None:
    token, site, key = await owner_site(api)
    for name in ("signups", "cart_value"):
        created = await api.post(
            f"/api/v1/sites/{site['id']}/metrics",
            json={"name": name, "type": "counter", "help": "h", "labels": ["plan"]},
            token=token,
        )
        assert created.status == 201, created.json
    body = {
        "key_id": key["id"],
        "transport": "beacon",
        "options": {
            "spa": "hash",
            "outbound_links": False,
            "downloads": False,
            "custom_events": False,
            "metrics": ["signups", "cart_value", "signups"],
            "batch_size": 25,
            "batch_interval_ms": 250,
            "respect_dnt": False,
            "allow_localhost": True,
            "allow_automated": True,
        },
    }
    answer = await snippet(api, token, site["id"], body)
    assert answer.status == 200, answer.json
    attrs = parse_tag(answer.json["snippet"])
    assert {name: value for name, value in attrs.items() if name not in {"src", "data-key", "defer"}} == {
        "data-transport": "beacon",
        "data-spa": "hash",
        "data-outbound": "0",
        "data-downloads": "0",
        "data-events": "0",
        "data-metrics": "signups,cart_value",
        "data-batch": "25",
        "data-interval": "250",
        "data-dnt": "0",
        "data-localhost": "1",
        "data-automated": "1",
    }


async def test_without_automatic_pageviews_spa_views_are_the_pages_too(api: Api) -> None:
    token, site, key = await owner_site(api)
    body = {"key_id": key["id"], "options": {"auto_pageviews": False, "spa": "hash"}}
    answer = await snippet(api, token, site["id"], body)
    attrs = parse_tag(answer.json["snippet"])
    assert attrs["data-auto"] == "0" and attrs["data-spa"] == "off"


async def test_secret_keys_are_refused(api: Api) -> None:
    token, site, _ = await owner_site(api)
    secret = await make_key(api, token, site["id"], "secret")
    answer = await snippet(api, token, site["id"], {"key_id": secret["id"]})
    assert answer.status == 422
    assert answer.error_code == "secret_key_refused"
    assert secret["key"] not in answer.body.decode()


async def test_another_sites_key_and_unknown_keys_are_not_found(api: Api) -> None:
    token, site, _ = await owner_site(api)
    other = await make_site(api, token, name="Other", domain="other.example")
    other_key = await make_key(api, token, other["id"], "public")
    for key_id in (other_key["id"], "nope"):
        answer = await snippet(api, token, site["id"], {"key_id": key_id})
        assert answer.status == 404 and answer.error_code == "key_not_found", answer.json


async def test_disabled_keys_are_refused(api: Api) -> None:
    token, site, key = await owner_site(api)
    changed = await api.patch(
        f"/api/v1/sites/{site['id']}/keys/{key['id']}", json={"active": False}, token=token
    )
    assert changed.status == 200, changed.json
    answer = await snippet(api, token, site["id"], {"key_id": key["id"]})
    assert answer.status == 422 and answer.error_code == "key_inactive"


async def test_metrics_must_be_the_sites_configs(api: Api) -> None:
    token, site, key = await owner_site(api)
    answer = await snippet(api, token, site["id"], {"key_id": key["id"], "options": {"metrics": ["nope"]}})
    assert answer.status == 422 and answer.error_code == "unknown_metric"
    assert "options.metrics" in answer.json["error"]["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"key_id": 5},
        {"key_id": "k", "transport": "carrier-pigeon"},
        {"key_id": "k", "options": {"spa": "sometimes"}},
        {"key_id": "k", "options": {"batch_size": 0}},
        {"key_id": "k", "options": {"batch_interval_ms": 10}},
        {"key_id": "k", "options": {"metrics": "signups"}},
        {"key_id": "k", "options": {"inline": True}},
        {"key_id": "k", "extra": 1},
    ],
)
async def test_bad_options_are_422_with_fields(api: Api, body: dict[str, Any]) -> None:
    token, site, _ = await owner_site(api)
    answer = await snippet(api, token, site["id"], body)
    assert answer.status == 422, answer.json
    assert answer.error_code == "validation_failed"


async def test_viewers_may_generate_strangers_and_anonymous_may_not(api: Api) -> None:
    token, site, key = await owner_site(api)
    viewer = await register(api)
    await add_member(api, token, site["id"], viewer["user"]["email"], "viewer")
    answer = await snippet(api, viewer["access_token"], site["id"], {"key_id": key["id"]})
    assert answer.status == 200 and key["key"] in answer.json["snippet"]
    stranger = await signup(api)
    answer = await snippet(api, stranger, site["id"], {"key_id": key["id"]})
    assert answer.status == 404
    answer = await api.post(f"/api/v1/sites/{site['id']}/snippet", json={"key_id": key["id"]})
    assert answer.status == 401


class TestPublicUrl:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"public_url": "https://eddy.example/"}

    async def test_the_configured_public_url_is_used(self, api: Api) -> None:
        token, site, key = await owner_site(api)
        answer = await snippet(api, token, site["id"], {"key_id": key["id"]})
        assert answer.status == 200, answer.json
        assert answer.json["tracker_url"] == f"https://eddy.example/t.js?v={load_bundle().version}"
        assert parse_tag(answer.json["snippet"])["src"] == answer.json["tracker_url"]


async def test_a_host_header_that_is_no_dns_name_is_refused(api: Api) -> None:
    token, site, key = await owner_site(api)
    answer = await snippet(
        api, token, site["id"], {"key_id": key["id"]}, headers={"Host": "shop_example.com"}
    )
    assert answer.status == 400 and answer.error_code == "bad_host"
