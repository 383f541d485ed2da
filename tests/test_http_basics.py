"""The HTTP surface every other feature relies on: health, readiness, JSON errors, security headers,
bounded bodies."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.ports import free_port
from tests.support.raw_http import raw_exchange


async def test_healthz(api: Api) -> None:
    answer = await api.get("/healthz")
    assert answer.status == 200
    assert answer.json["status"] == "ok"


async def test_readyz_reports_every_dependency(api: Api) -> None:
    answer = await api.get("/readyz")
    assert answer.status == 200
    assert answer.json["status"] == "ready"
    assert {name: check["kind"] for name, check in answer.json["checks"].items()} == {
        "documents": "sqlite",
        "events": "sqlite",
        "kv": "memory",
        "bus": "memory",
    }
    assert all(check["status"] == "up" for check in answer.json["checks"].values())


class TestReadyzWithRedisDown:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"redis_url": f"redis://127.0.0.1:{free_port()}/0"}

    @pytest.mark.expect_errors("eddy.access")  # a 5xx is logged at ERROR
    @pytest.mark.reliability
    async def test_503_names_the_dependency(self, api: Api) -> None:
        answer = await api.get("/readyz")
        assert answer.status == 503
        checks = answer.json["checks"]
        assert checks["kv"]["status"] == "down" and checks["kv"]["kind"] == "redis"
        assert checks["bus"]["status"] == "down"
        assert checks["documents"]["status"] == "up"
        # liveness is unaffected
        assert (await api.get("/healthz")).status == 200


class TestReadyzWithRedisUp:
    @pytest.fixture
    def app_config(self, redis_server: Any, unique_prefix: str) -> dict[str, Any]:
        return {"redis_url": redis_server.url, "redis_prefix": unique_prefix}

    async def test_ready(self, api: Api) -> None:
        answer = await api.get("/readyz")
        assert answer.status == 200, answer.json
        assert answer.json["checks"]["bus"] == {"status": "up", "kind": "redis"}


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nothing/here", "/healthz/extra"])
async def test_unknown_paths_are_json_404(api: Api, path: str) -> None:
    answer = await api.get(path)
    assert answer.status == 404
    assert answer.error_code == "not_found"


async def test_wrong_method_is_json_405(api: Api) -> None:
    answer = await api.request("DELETE", "/healthz")
    assert answer.status == 405
    assert answer.error_code == "method_not_allowed"
    assert answer.json["error"]["message"] == "Method Not Allowed"  # Tornado's reason for the status


async def test_a_domain_error_is_answered_with_its_status_and_not_logged_as_a_crash(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # A wrong password raises the domain's Unauthorized deep in the sign-in service: a 401 answer of its
    # own, with its code and message, and no "Uncaught exception" traceback in the log.
    answer = await api.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "not the password"}
    )
    assert answer.status == 401
    assert answer.error_code == "invalid_credentials"
    assert answer.json["error"]["message"]
    assert not [record for record in caplog.records if "Uncaught exception" in record.getMessage()]


@pytest.mark.reliability
async def test_declared_oversize_body_is_413_without_reading_it(
    http_server: Any, http_server_port: Any
) -> None:
    # Declare 10 MiB and send only the headers: the answer must come before any body byte is read.
    data = await raw_exchange(
        http_server_port[1],
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10485760\r\n\r\n",
    )
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), data[:300]
    assert b'"payload_too_large"' in body


@pytest.mark.reliability
async def test_chunked_oversize_body_is_cut_off(http_server: Any, http_server_port: Any, api: Api) -> None:
    chunk = b"x" * 65536
    request = b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    request += (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 3
    data = await raw_exchange(http_server_port[1], request)
    assert not data.startswith(b"HTTP/1.1 2"), data[:200]
    # and the server is still fine
    assert (await api.get("/healthz")).status == 200


@pytest.mark.reliability
async def test_metrics_exposition(api: Api) -> None:
    await api.get("/healthz")
    answer = await api.get("/metrics", expect_json=False)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    text = answer.body.decode()
    assert 'eddy_http_request_duration_seconds_count{handler="HealthzHandler",status="2xx"}' in text


class TestMetricsWithoutToken:
    """M5: with no EDDY_METRICS_TOKEN, /metrics answers this host and EDDY_METRICS_ALLOW only."""

    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"trust_proxy": True, "metrics_allow": (ipaddress.ip_network("203.0.113.0/24"),)}

    @pytest.mark.reliability
    async def test_m5_metrics_answer_this_host_and_the_allow_list_only(self, api: Api) -> None:
        assert (await api.get("/metrics", expect_json=False)).status == 200  # loopback
        outsider = await api.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
        assert outsider.status == 403 and outsider.error_code == "forbidden"
        assert b"eddy_" not in outsider.body
        allowed = await api.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, expect_json=False)
        assert allowed.status == 200 and b"eddy_build_info" in allowed.body


class TestMetricsBehindAnUntrustedProxy:
    @pytest.mark.reliability
    async def test_m5_a_proxied_scrape_is_refused_without_trust_proxy(self, api: Api) -> None:
        # a proxy on this host makes every client look local: its forwarding headers give it away
        for header in ("X-Forwarded-For", "X-Real-Ip", "Forwarded"):
            refused = await api.get("/metrics", headers={header: "for=198.51.100.7"})
            assert refused.status == 403, header
        assert (await api.get("/metrics", expect_json=False)).status == 200


class TestMetricsToken:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"metrics_token": "s3cret-token"}

    @pytest.mark.reliability
    async def test_bearer_required(self, api: Api) -> None:
        assert (await api.get("/metrics")).status == 401
        assert (await api.get("/metrics", token="wrong")).status == 401
        ok = await api.get("/metrics", token="s3cret-token", expect_json=False)
        assert ok.status == 200 and b"eddy_build_info" in ok.body
