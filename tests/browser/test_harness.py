"""The browser harness itself: Chromium runs, reaches a real Eddy process and a customer's site on a
different origin, and each test starts with empty storage."""

from __future__ import annotations

import json

from playwright.sync_api import Page

from tests.support.customer_site import CustomerSite
from tests.support.eddy_process import EddyProcess


def test_chromium_reaches_eddy_and_a_customer_site_on_another_origin(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    url = customer_site.put("/", "<!doctype html><title>shop</title><p id=x>hello</p>")
    page.goto(url)
    assert page.title() == "shop"
    assert page.evaluate("location.origin") == customer_site.origin
    assert page.evaluate("localStorage.length") == 0
    page.goto(eddy_server.url + "/healthz")
    assert json.loads(page.inner_text("body"))["status"] == "ok"
    assert page.evaluate("location.origin") != customer_site.origin
    assert customer_site.requests[0] == "/"
