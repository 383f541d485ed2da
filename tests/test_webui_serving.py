"""Serving the dashboard: index.html for the app's pages, static files with ETags and the security headers,
JSON 404s kept for the API, and static checks that the webui never parses data as markup."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from handlers.webui import WEBUI_DIR, is_page_path
from tests.support.api import Api

JS_FILES = sorted((WEBUI_DIR / "js").rglob("*.js"))


async def test_app_routes_answer_the_index_page_with_the_csp(api: Api) -> None:
    for path in ("/", "/login", "/register", "/sites", "/sites/new", "/sites/abc123/keys", "/share"):
        answer = await api.get(path, expect_json=False)
        assert answer.status == 200, path
        assert answer.headers["Content-Type"].startswith("text/html")
        assert b'<script type="module" src="/assets/js/app.js"></script>' in answer.body
        csp = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert answer.headers["Cache-Control"] == "no-cache"
        assert answer.headers["X-Frame-Options"] == "DENY"


async def test_paths_outside_the_app_keep_the_json_404(api: Api) -> None:
    for path in (
        "/nope",
        "/no/such/page",
        "/sites/abc/nope",
        "/api/v1/nothing",
        "/api/",
        "/ws/nothing",
        "/wp-login.php",
    ):
        answer = await api.get(path)
        assert answer.status == 404, path
        assert answer.error_code == "not_found"
    posted = await api.post("/sites", json={"x": 1})
    assert posted.status == 404 and posted.error_code == "not_found"


async def test_index_revalidates_with_its_etag(api: Api) -> None:
    first = await api.get("/", expect_json=False)
    etag = first.headers["Etag"]
    again = await api.get("/sites", headers={"If-None-Match": etag}, expect_json=False)
    assert again.status == 304 and again.body == b""


async def test_assets_have_exact_types_etags_and_cache_rules(api: Api) -> None:
    script = await api.get("/assets/js/app.js", expect_json=False)
    assert script.status == 200
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in script.headers["Content-Security-Policy"]
    unchanged = await api.get(
        "/assets/js/app.js", headers={"If-None-Match": script.headers["Etag"]}, expect_json=False
    )
    assert unchanged.status == 304
    style = await api.get("/assets/css/app.css", expect_json=False)
    assert style.headers["Content-Type"] == "text/css; charset=utf-8"
    vendor = await api.get("/assets/vendor/uPlot.iife.min.js", expect_json=False)
    assert vendor.status == 200 and "max-age=86400" in vendor.headers["Cache-Control"]
    assert b"uPlot" in vendor.body


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../settings/config.py",
        "/assets/%2e%2e/settings/config.py",
        "/assets/.hidden",
        "/assets/js/nope.js",
    ],
)
async def test_assets_never_leave_webui(api: Api, path: str) -> None:
    answer = await api.get(path, expect_json=False)
    assert answer.status in (403, 404), path
    assert b"Config" not in answer.body


def test_page_paths() -> None:
    assert is_page_path("/") and is_page_path("/sites/x/keys") and is_page_path("/sites/new")
    assert not is_page_path("/api/v1/sites") and not is_page_path("/ws/live")
    assert not is_page_path("/robots.txt") and not is_page_path("/sites/x/../../etc")


class _Markup(HTMLParser):
    """Collects inline script, style attributes and <style> elements of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if "style" in names:
            self.problems.append(f"style attribute on <{tag}>")
        if any(name.startswith("on") for name in names):
            self.problems.append(f"event handler attribute on <{tag}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            if "src" not in names:
                self.problems.append("inline <script>")
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("script body")


def test_index_has_no_inline_script_or_style() -> None:
    parser = _Markup()
    parser.feed((WEBUI_DIR / "index.html").read_text())
    assert parser.problems == []


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: str(p.relative_to(WEBUI_DIR)))
def test_scripts_never_parse_strings_as_markup(path: Path) -> None:
    source = path.read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "javascript:",
    ):
        assert sink not in source, f"{path.name} uses {sink}"
    # Attributes set from data go through dom.js's h() (which checks hrefs and refuses inline styles and
    # string handlers); no other module sets these attributes itself.
    if path.name != "dom.js":
        assert not re.search(r"setAttribute\(\s*[\"'](?:style|on\w+|href|src)[\"']", source), path.name
