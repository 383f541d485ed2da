"""The API docs page in a real Chromium: it renders every operation of /api/openapi.json under Eddy's
CSP (same-origin script, no inline code), with no console errors or CSP violations."""

from __future__ import annotations

from typing import Any

from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi


def test_docs_page_renders_the_spec(page: Any, eddy_server: EddyProcess, browser_log: list[str]) -> None:
    spec = SyncApi(eddy_server.url).get("/api/openapi.json").json
    operations = sum(len(methods) for methods in spec["paths"].values())
    page.goto(eddy_server.url + "/api/docs")
    page.wait_for_selector("body[data-rendered]")
    assert int(page.get_attribute("body", "data-rendered")) == operations
    assert page.locator("section.op").count() == operations
    assert page.locator("code.path", has_text="/api/v1/auth/login").count() == 1
    assert page.locator("h2", has_text="keys").count() == 1
    # The stylesheet applied (computed style from docs.css), and nothing was blocked or failed.
    assert page.eval_on_selector("section.op", "el => getComputedStyle(el).borderTopStyle") == "solid"
    assert not [line for line in browser_log if "error" in line.lower() or "Content Security" in line]
