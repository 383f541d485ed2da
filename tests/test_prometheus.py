"""Eddy's /metrics against the real Prometheus tools: `promtool check metrics` on a scrape after mixed
traffic, and a real Prometheus server scraping a running Eddy and answering queries."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from handlers.context import AppContext
from tests.support.api import Api
from tests.support.prometheus_server import PrometheusServer
from tests.support.traffic import mixed_traffic
from tests.support.until import until


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is not installed: run `make test` (scripts/system-deps.sh installs it)"
    return subprocess.run(
        [binary, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )


@pytest.mark.reliability
async def test_promtool_accepts_a_scrape_after_mixed_traffic(ctx: AppContext, api: Api) -> None:
    await mixed_traffic(ctx, api)
    answer = await api.get("/metrics", expect_json=False)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = answer.body.decode()
    for family in (
        "eddy_user_tally_signups_total",
        "eddy_site_pageviews_total",
        "eddy_http_request_duration_seconds",
    ):
        assert family in text
    result = promtool_check(text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""
    # promtool itself must fail a bad exposition, or this test proves nothing
    bad = promtool_check("# TYPE eddy_bad_total gauge\neddy_bad_total 1\n")
    assert bad.returncode != 0


async def _query(prometheus: PrometheusServer, promql: str) -> list[dict[str, Any]]:
    answer = await AsyncHTTPClient().fetch(prometheus.query_url(promql), raise_error=False)
    assert answer.code == 200, answer.body
    return prometheus.vector(answer.body)


@pytest.mark.slow
class TestRealPrometheus:
    """A real Prometheus scraping Eddy (behind a metrics token) and answering PromQL."""

    @pytest.fixture
    def metrics_token(self) -> str:
        return "scrape-" + "t" * 40

    @pytest.fixture
    def app_config(self, metrics_token: str) -> dict[str, Any]:
        return {"metrics_token": metrics_token}

    @pytest.fixture
    def prometheus(self, http_server_port: Any, metrics_token: str) -> Iterator[PrometheusServer]:
        server = PrometheusServer([f"127.0.0.1:{http_server_port[1]}"], bearer_token=metrics_token).start()
        yield server
        server.stop()

    async def test_prometheus_scrapes_eddy_and_answers_site_and_user_series(
        self, ctx: AppContext, api: Api, prometheus: PrometheusServer, metrics_token: str
    ) -> None:
        site = await mixed_traffic(ctx, api)
        sid = site["id"]
        # /metrics is behind the token here: Prometheus sends it, anyone else is refused
        assert (await api.get("/metrics")).status == 401
        expected = {
            f'eddy_user_tally_signups_total{{site="{sid}",plan="free"}}': 2.0,
            f'eddy_site_pageviews_total{{site="{sid}"}}': 4.0,
            f'eddy_site_events_total{{site="{sid}"}}': 7.0,
            f'eddy_user_dist_load_seconds_count{{site="{sid}",page="/"}}': 1.0,
        }
        found: dict[str, float] = {}

        async def all_scraped() -> bool:
            for promql in expected:
                vector = await _query(prometheus, promql)
                if vector:
                    assert len(vector) == 1, vector
                    assert vector[0]["metric"]["job"] == "eddy"
                    found[promql] = float(vector[0]["value"][1])
            return found == expected

        await until(
            all_scraped,
            timeout=60,
            interval=0.5,
            message=lambda: f"{found} != {expected}\n{prometheus.log_path.read_text(errors='replace')}",
        )
        # the scrape is healthy from Prometheus' own point of view
        assert [float(v["value"][1]) for v in await _query(prometheus, 'up{job="eddy"}')] == [1.0]
