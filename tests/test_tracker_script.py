"""GET /t.js: the built tracker with versioned long-lived caching, ETag revalidation, CORS/CORP headers
for cross-origin pages, and gzip within the size budget; the committed build matches its source."""

from __future__ import annotations

import gzip
import hashlib
import re

from tornado.httpclient import AsyncHTTPClient

from tests.support.api import Api
from tracker.bundle import BUILT, SOURCE, load_bundle, version_of

SIZE_BUDGET_GZIP = 2560


def test_the_default_build_is_within_2_5kb_gzipped() -> None:
    body = BUILT.read_bytes()
    assert len(gzip.compress(body, 9)) <= SIZE_BUDGET_GZIP
    # and minified for real: far smaller than the readable source
    assert len(body) < len(SOURCE.read_bytes()) / 2


def test_the_committed_build_is_built_from_the_committed_source() -> None:
    banner = BUILT.read_text().splitlines()[0]
    built_from = re.fullmatch(r"/\*! eddy \| src ([0-9a-f]{16}) \*/", banner)
    assert built_from, banner
    source_digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    assert built_from.group(1) == source_digest, "run `make tracker`"


async def test_versioned_url_is_immutable_and_cross_origin_loadable(api: Api) -> None:
    bundle = load_bundle()
    assert bundle.version == version_of(BUILT.read_bytes())
    answer = await api.get(f"/t.js?v={bundle.version}", expect_json=False)
    assert answer.status == 200
    assert answer.body == BUILT.read_bytes()
    assert answer.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert answer.headers["ETag"] == f'"{bundle.version}"'
    assert "Set-Cookie" not in answer.headers


async def test_unversioned_or_stale_urls_revalidate(api: Api) -> None:
    bundle = load_bundle()
    for path in ("/t.js", "/t.js?v=0123456789ab"):
        answer = await api.get(path, expect_json=False)
        assert answer.status == 200
        assert answer.headers["Cache-Control"] == "public, max-age=3600"
        assert answer.body == bundle.body
    again = await api.get("/t.js", headers={"If-None-Match": bundle.etag}, expect_json=False)
    assert again.status == 304 and again.body == b""
    changed = await api.get("/t.js", headers={"If-None-Match": '"other"'}, expect_json=False)
    assert changed.status == 200


async def test_head_answers_headers_only(api: Api) -> None:
    answer = await api.request("HEAD", "/t.js", expect_json=False)
    assert answer.status == 200 and answer.body == b""
    assert answer.headers["Content-Type"].startswith("text/javascript")


async def test_served_gzipped_within_budget(api: Api) -> None:
    response = await AsyncHTTPClient().fetch(
        f"{api.base_url}/t.js", headers={"Accept-Encoding": "gzip"}, decompress_response=False
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(response.body) <= SIZE_BUDGET_GZIP
    assert gzip.decompress(response.body) == load_bundle().body
