"""The web surface (RELIABILITY.md items 21, 22 and 24): HSTS whenever the request came over TLS, no CORS
grant to foreign origins on the management API, and a /metrics scrape whose labels hold no secret and whose
series count does not grow with traffic.

Eddy does not terminate TLS itself: it runs behind a reverse proxy that does, and `--trust-proxy` makes it
read X-Forwarded-Proto/-For (Tornado's xheaders). So "under TLS" means a request the trusted proxy marks as
https; without `--trust-proxy` the header is a client's claim and is ignored.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from domain.user_metrics.service import LABEL_VALUE_CAP
from handlers import all_routes
from handlers.context import AppContext
from tests.support import figures
from tests.support.accounts import make_key, make_site, register
from tests.support.api import Api
from tests.support.sites import add_metric_config

pytestmark = pytest.mark.reliability

HSTS = "max-age=31536000; includeSubDomains"
FOREIGN = "https://evil.example"
# Ingestion endpoints answer any origin on purpose (without credentials): tests/ingest covers them, and
# tests/compat Plausible's and Umami's (each site still checks its allowed origins).
INGESTION = {"/api/v1/collect", "/api/v1/metrics", "/api/event", "/api/send", "/api/batch"}


async def _hsts_answers(api: Api, proto: str) -> dict[str, str | None]:
    """The Strict-Transport-Security header of a spread of answers (JSON, errors, pages, script)."""
    headers = {"X-Forwarded-Proto": proto, "X-Forwarded-For": "203.0.113.9"}
    seen: dict[str, str | None] = {}
    for method, path, json_answer in (
        ("GET", "/healthz", True),
        ("GET", "/api/v1/auth/me", True),  # 401
        ("GET", "/api/v1/no-such-thing", True),  # 404
        ("POST", "/api/v1/collect", True),  # 401 without a key
        ("GET", "/api/openapi.json", True),
        ("GET", "/api/docs", False),
        ("GET", "/t.js", False),
        ("GET", "/metrics", False),
        ("GET", "/", False),
    ):
        answer = await api.request(method, path, headers=headers, expect_json=json_answer)
        assert answer.status < 500, (path, answer.status)
        seen[path] = answer.headers.get("Strict-Transport-Security")
    return seen


class TestBehindATlsProxy:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"trust_proxy": True}

    async def test_hsts_on_every_answer_that_came_over_tls(self, api: Api) -> None:
        over_tls = await _hsts_answers(api, "https")
        assert over_tls == dict.fromkeys(over_tls, HSTS)
        plain = await _hsts_answers(api, "http")
        assert plain == dict.fromkeys(plain, None)


async def test_a_client_cannot_claim_tls_without_a_trusted_proxy(api: Api) -> None:
    claimed = await _hsts_answers(api, "https")
    assert claimed == dict.fromkeys(claimed, None)


def _management_paths(site_id: str) -> list[str]:
    """Every /api/v1 route but ingestion, its id groups filled with a real site's id."""
    paths = []
    for route in all_routes():
        pattern = route[0]
        if not pattern.startswith("/api/") or pattern in INGESTION:
            continue
        paths.append(re.sub(r"\([^)]*\)", site_id, pattern).replace("\\.", ".").rstrip("?/"))
    return paths


async def test_management_api_grants_no_foreign_origin(api: Api) -> None:
    user = await register(api)
    token = user["access_token"]
    site = await make_site(api, token)
    paths = _management_paths(site["id"])
    assert "/api/v1/sites" in paths and "/api/v1/auth/login" in paths and len(paths) > 30
    cors = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods")
    for path in paths:
        preflight = await api.request(
            "OPTIONS",
            path,
            headers={
                "Origin": FOREIGN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
            expect_json=False,
        )
        assert preflight.status != 204 or path in INGESTION, path
        assert not [h for h in cors if h in preflight.headers], (path, dict(preflight.headers))
        if path.endswith("/live/stream"):
            continue  # an endless event stream; a bearer request is always preflighted first anyway
        read = await api.get(path, headers={"Origin": FOREIGN}, token=token, expect_json=False)
        assert read.status < 500, (path, read.status)
        assert not [h for h in cors if h in read.headers], (path, dict(read.headers))
    # control: the ingestion endpoint does answer the same preflight
    collect = await api.request(
        "OPTIONS",
        "/api/v1/collect",
        headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
        expect_json=False,
    )
    assert collect.headers.get("Access-Control-Allow-Origin") == "*"


# Values that must never be a label value of Eddy's own series (the sites' declared families carry values
# the site chose, capped per label: checked separately below).
EMAIL = "alice@example.com"
CLIENT_IP = "203.0.113.77"
QUERY_TOKEN = "tok_" + "Q" * 24
PATH_PIECE = "/checkout"


def _series(text: str) -> dict[str, list[dict[str, str]]]:
    """{family name: [labels of each sample]}."""
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        out.setdefault(family.name, []).extend(dict(s.labels) for s in family.samples)
    return out


async def _traffic(
    api: Api, round_id: str, token: str, secret: str, public: str, headers: dict[str, str]
) -> None:
    """One round of mixed traffic, with every kind of sensitive value in paths, queries and bodies."""
    url = f"https://shop.example{PATH_PIECE}?email=alice%40example.com&token={QUERY_TOKEN}&r={round_id}"
    events = [
        {
            "name": "pageview",
            "url": url,
            "referrer": f"https://mail.example/?to={EMAIL}",
            "props": {"email": EMAIL, "ip": CLIENT_IP},
        }
    ]
    backend = {**headers, "X-Api-Key": secret, "User-Agent": "backend"}
    assert (await api.post("/api/v1/collect", json={"events": events}, headers=backend)).status == 202
    browser = {**headers, "X-Api-Key": public, "Origin": "https://shop.example", "User-Agent": "Mozilla/5.0"}
    await api.post(f"/api/v1/collect?key={public}&u={round_id}", json=events[0], headers=browser)
    bad_key = "eddy_sk_" + uuid.uuid4().hex[:32]
    assert (
        await api.post("/api/v1/collect", json=events[0], headers={**headers, "X-Api-Key": bad_key})
    ).status == 401
    await api.get(f"/api/v1/users/{EMAIL}/{round_id}?token={QUERY_TOKEN}", headers=headers)
    await api.get(f"/no/such/{round_id}?email={EMAIL}", headers=headers, expect_json=False)
    await api.post(
        "/api/v1/auth/login", json={"email": EMAIL, "password": f"wrong-{round_id}"}, headers=headers
    )
    await api.get("/api/v1/auth/me", token=token, headers=headers)
    await api.get("/api/v1/auth/me", token=f"{token[:-4]}AAAA", headers=headers)
    await api.get("/api/v1/sites", token=token, headers=headers)
    await api.get("/metrics", headers=headers, expect_json=False)  # from a client: refused (403)
    await api.get("/metrics", expect_json=False)  # from this host: answered


class TestMetricsLabels:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"trust_proxy": True}

    async def test_no_secret_in_labels_and_series_do_not_grow_with_traffic(
        self, api: Api, ctx: AppContext
    ) -> None:
        user = await register(api)
        token = user["access_token"]
        site = await make_site(api, token)
        secret = (await make_key(api, token, site["id"], "secret"))["key"]
        public = (await make_key(api, token, site["id"], "public"))["key"]
        headers = {"X-Forwarded-For": CLIENT_IP}
        await _traffic(api, "warm-up", token, secret, public, headers)
        baseline = (await api.get("/metrics", expect_json=False)).body.decode()
        for round_number in range(40):
            await _traffic(api, f"r{round_number}-{uuid.uuid4().hex}", token, secret, public, headers)
        after = (await api.get("/metrics", expect_json=False)).body.decode()

        forbidden = [EMAIL, "alice%40example.com", CLIENT_IP, "127.0.0.1", QUERY_TOKEN, PATH_PIECE, token]
        forbidden += [secret, secret.removeprefix("eddy_sk_"), public.removeprefix("eddy_pk_")]
        series = _series(after)
        own = {name: labels for name, labels in series.items() if not name.startswith("eddy_user_")}
        values = {value for labels in own.values() for sample in labels for value in sample.values()}
        assert site["id"] in values  # control: site ids are labels, so the scrape does see this traffic
        for value in values:
            assert not any(bad in value for bad in forbidden), value
            # bounded shapes only: identifiers, status classes, numbers (bucket bounds), versions
            assert re.fullmatch(r"[A-Za-z0-9_.+-]{0,64}", value), value
        before = sum(
            len(labels) for name, labels in _series(baseline).items() if not name.startswith("eddy_user_")
        )
        grown = sum(len(labels) for labels in own.values())
        figures.record(
            "metrics_labels",
            {
                "traffic_rounds": 41,
                "distinct_paths_and_urls_sent": 41 * 4,
                "series_after_warm_up": before,
                "series_after_40_more_rounds": grown,
                "label_values_checked": len(values),
            },
        )
        assert grown == before, "series grew with the number of distinct paths, URLs or keys"

    async def test_declared_families_are_capped_per_label(self, api: Api, ctx: AppContext) -> None:
        user = await register(api)
        token = user["access_token"]
        site = await make_site(api, token)
        secret = (await make_key(api, token, site["id"], "secret"))["key"]
        await add_metric_config(ctx, site["id"], "page_loads", "counter", ["page"])
        distinct = LABEL_VALUE_CAP + 50
        for start in range(0, distinct, 50):
            samples = [
                {"name": "page_loads", "value": 1, "labels": {"page": f"/p/{n}?email={EMAIL}"}}
                for n in range(start, min(distinct, start + 50))
            ]
            answer = await api.post(
                "/api/v1/metrics", json={"metrics": samples}, headers={"X-Api-Key": secret}
            )
            assert answer.status == 202, answer.json
        series = _series((await api.get("/metrics", expect_json=False)).body.decode())
        pages = {sample["page"] for sample in series["eddy_user_tally_page_loads"]}
        assert len(pages) == LABEL_VALUE_CAP + 1 and "other" in pages
        overflow = [s for s in series["eddy_declared_metric_label_overflow"] if s.get("site") == site["id"]]
        assert overflow, series.keys()
