"""The deployment files: docker-compose.yml validated by Debian's docker-compose (no engine needed),
the Dockerfile's promises, the Prometheus config and sample alert rules (promtool), and the Grafana
dashboard (JSON sanity, and every query names a series Eddy really exports)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from handlers.context import AppContext
from tests.support.api import Api
from tests.support.scrape import samples
from tests.support.traffic import mixed_traffic
from tests.support.until import until

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "eddy.json"
DATASOURCE = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PANEL_TYPES = {"timeseries", "stat", "table", "gauge", "bargauge", "text", "row", "heatmap"}
SERIES = re.compile(r"\beddy_[A-Za-z0-9_]*[A-Za-z0-9]")


def tool(name: str) -> str:
    binary = shutil.which(name)
    assert binary, f"{name} is not installed: run `make test` (scripts/system-deps.sh installs it)"
    return binary


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("GRAFANA_ADMIN_PASSWORD", "EDDY_METRICS_TOKEN")}
    return subprocess.run(
        [
            tool("docker-compose"),
            "--project-directory",
            str(ROOT),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        cwd=ROOT,
    )


def binds(service: dict[str, Any]) -> dict[str, Path]:
    """{target: source} of a service's bind mounts (docker-compose prints `source:target[:mode]`)."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts[volume["target"]] = Path(volume["source"])
            continue
        source, target = volume.split(":")[:2]
        if source.startswith("/"):
            mounts[target] = Path(source)
    return mounts


@pytest.mark.reliability
def test_compose_file_validates_and_wires_the_stack() -> None:
    result = compose_config(GRAFANA_ADMIN_PASSWORD="not-a-real-password", EDDY_METRICS_TOKEN="scrape-token")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"eddy", "mongo", "redis", "prometheus", "grafana"}
    assert services["mongo"]["image"] == "mongo:7" and services["redis"]["image"] == "redis:7"
    eddy = services["eddy"]
    assert "build" in eddy and eddy["environment"]["MONGODB_URI"].startswith("mongodb://mongo:27017/")
    assert eddy["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    # every file or folder mounted from the repository exists
    for name, service in services.items():
        for source in binds(service).values():
            assert source.exists(), (name, source)
    mounted = binds(services["prometheus"])
    assert mounted["/etc/prometheus/prometheus.yml"] == DEPLOY / "prometheus" / "prometheus.yml"
    assert mounted["/etc/prometheus/alerts.yml"] == DEPLOY / "prometheus" / "alerts.yml"
    grafana = binds(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == DEPLOY / "grafana" / "provisioning"
    assert grafana["/var/lib/grafana/dashboards"] == DASHBOARD.parent
    # Grafana ships no default admin password: without one the file refuses to validate
    refused = compose_config(EDDY_METRICS_TOKEN="scrape-token")
    assert refused.returncode != 0 and "GRAFANA_ADMIN_PASSWORD" in refused.stderr
    # nor is /metrics open to the compose network: Eddy and Prometheus share a required token (M5)
    assert eddy["environment"]["EDDY_METRICS_TOKEN"] == "scrape-token"
    assert services["prometheus"]["environment"]["EDDY_METRICS_TOKEN"] == "scrape-token"
    unprotected = compose_config(GRAFANA_ADMIN_PASSWORD="not-a-real-password")
    assert unprotected.returncode != 0 and "EDDY_METRICS_TOKEN" in unprotected.stderr


def test_prometheus_config_scrapes_eddy_and_rules_pass_their_unit_tests() -> None:
    promtool = tool("promtool")
    config_path = DEPLOY / "prometheus" / "prometheus.yml"
    checked = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(config_path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(config_path.read_text())
    [job] = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["eddy:8888"] and job["metrics_path"] == "/metrics"
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=DEPLOY / "prometheus")
        assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n.*?/healthz", text, re.M)
    for source in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "data" in ignored and ".git" in ignored


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"visitors_now_refresh_s": 0.1}


def exported_names(text: str) -> set[str]:
    return {name for name, _labels in samples(text)}


def query_names(expr: str) -> list[tuple[str, bool]]:
    """Eddy series named in a PromQL expression: (name, is_prefix) where `eddy_x_.+` is a prefix."""
    names = []
    for match in SERIES.finditer(expr):
        rest = expr[match.end() :]
        names.append((match.group(), rest.startswith(("_.+", "_.*"))))
    return names


def check_names(exprs: list[str], exported: set[str]) -> list[str]:
    missing = []
    for expr in exprs:
        names = query_names(expr)
        assert names or "up{" in expr, f"query names no Eddy series: {expr}"
        for name, prefix in names:
            ok = any(e.startswith(name + "_") for e in exported) if prefix else name in exported
            if not ok:
                missing.append(f"{name} in {expr}")
    return missing


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            exprs.append(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(variable["definition"])
    return exprs


def test_dashboard_json_is_sane() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    assert dashboard["schemaVersion"] >= 36
    datasource = yaml.safe_load(DATASOURCE.read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["current"]["value"] == datasource["uid"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["type"] in PANEL_TYPES and panel["title"], panel
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in ("x", "y", "w", "h")), panel["title"]
        assert grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panels overlap at {panel['title']}"
                cells.add((x, y))
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"] == panel["datasource"]
            # each variable a query uses is defined
            for used in re.findall(r"\$(\w+)", target["expr"]):
                assert used in variables or used.startswith("__"), used


async def test_every_query_names_a_series_eddy_exports(ctx: AppContext, api: Api) -> None:
    ctx.user_metrics.label_value_cap = 1  # so the label-overflow series exists too
    await mixed_traffic(ctx, api)

    async def with_visitors_now() -> str | None:  # refreshed on an interval (0.1 s here)
        text = (await api.get("/metrics", expect_json=False)).body.decode()
        return text if "eddy_site_visitors_now{" in text else None

    exported = exported_names(await until(with_visitors_now, timeout=10, interval=0.1))
    assert "eddy_user_tally_signups_total" in exported  # the user family the dashboard's variable lists
    dashboard = json.loads(DASHBOARD.read_text())
    assert check_names(dashboard_exprs(dashboard), exported) == []
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alert_exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert check_names(alert_exprs, exported) == []
    # the check itself catches a misspelt series
    assert check_names(["rate(eddy_http_requests_total[5m])"], exported) != []
    assert check_names(['{__name__=~"eddy_nothing_.+"}'], exported) != []
