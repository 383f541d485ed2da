"""Hostile data renders inert: events carrying a `javascript:` URL and an `<img onerror>` prop reach the live
tail and the history tables as plain text, with no dialog, no element created and no script link."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.browser.dashboard_helpers import PASSWORD, open_dashboard, sign_in
from tests.support.customer_site import CustomerSite
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi, sign_up_with_site
from tests.support.user_agents import DESKTOP_USER_AGENT

IMG_PROP = '<img src=x onerror="window.__pwned=1;alert(1)">'
SCRIPT_URL = "javascript:window.__pwned=2;alert(2)"


def _account_with_site(eddy_api: SyncApi, origin: str) -> tuple[str, str, str]:
    """(email, site id, public key value), made through the API."""
    email = f"sec-{uuid.uuid4().hex[:10]}@example.com"
    made = sign_up_with_site(
        eddy_api, email, PASSWORD, {"name": "Shop", "domain": "shop.example", "allowed_origins": [origin]}
    )
    return email, made.site_id, made.keys["public"]


def _assert_inert(page: Page, dialogs: list[str]) -> None:
    assert dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    schemes = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.protocol)")
    assert schemes and set(schemes) <= {"http:", "https:"}, schemes


@pytest.mark.reliability
def test_script_urls_and_markup_props_render_as_text(
    page: Page, eddy_server: EddyProcess, eddy_api: SyncApi, customer_site: CustomerSite
) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    email, site_id, key = _account_with_site(eddy_api, customer_site.origin)
    sign_in(page, eddy_server.url, email)
    page.goto(f"{eddy_server.url}/sites/{site_id}")
    open_dashboard(page)

    events = [
        {"name": "pageview", "url": SCRIPT_URL, "referrer": "javascript:alert(3)"},
        {
            "name": "clicked",
            "url": customer_site.url("/promo"),
            "referrer": "https://evil.example/<img src=x onerror=alert(4)>",
            "props": {"label": IMG_PROP, "href": SCRIPT_URL},
        },
    ]
    sent = eddy_api.post(
        "/api/v1/collect",
        json={"events": events},
        headers={"X-Api-Key": key, "Origin": customer_site.origin, "User-Agent": DESKTOP_USER_AGENT},
    )
    assert sent.status == 202 and sent.json == {"accepted": 2}, sent.body

    tail = page.get_by_test_id("live-tail")
    clicked = tail.locator(".tail-item").filter(has_text="clicked")
    expect(clicked).to_be_visible(timeout=15_000)
    # The markup is shown literally, character for character.
    expect(clicked.locator(".event-props")).to_contain_text(f"label={IMG_PROP}")
    expect(clicked.locator(".event-props")).to_contain_text(f"href={SCRIPT_URL}")
    expect(tail.locator(".tail-item")).to_have_count(2)
    _assert_inert(page, dialogs)

    # History: the event and prop tables, and the referrers, show the same text and no script link.
    page.get_by_label("Date range").select_option("today")
    events_card = page.locator("[data-breakdown=events]")
    expect(events_card).to_contain_text("clicked")
    events_card.get_by_label("Events: dimension").select_option("prop")
    events_card.get_by_label("Property name").fill("label")
    events_card.get_by_label("Property name").press("Enter")
    expect(events_card.locator("table")).to_contain_text(IMG_PROP)
    sources = page.locator("[data-breakdown=sources]")
    sources.get_by_label("Sources: dimension").select_option("referrer")
    expect(sources.locator("table")).to_be_visible()
    _assert_inert(page, dialogs)
    # The page's own links are there too, and still nothing but http(s).
    hrefs = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
    assert not [href for href in hrefs if "javascript" in href.lower()]


@pytest.mark.reliability
def test_the_dom_helpers_refuse_script_urls_inline_styles_and_string_handlers(
    page: Page, eddy_server: EddyProcess
) -> None:
    page.goto(eddy_server.url + "/login")
    result = page.evaluate(
        """async () => {
            const dom = await import('/assets/js/dom.js');
            const refusals = [];
            const attempts = [() => dom.h('div', {style: 'color:red'}), () => dom.h('div', {onclick: 'x()'})];
            for (const bad of attempts) {
                try { bad(); refusals.push(false); } catch (e) { refusals.push(e instanceof TypeError); }
            }
            return {
                urls: ['javascript:alert(1)', ' JaVaScRiPt:alert(1)', 'data:text/html,<b>x', 'vbscript:x',
                       '//evil.example/x', 'https://ok.example/a?b#c', 'http://ok.example/']
                      .map((u) => dom.safeUrl(u)),
                linkTag: dom.externalLink('javascript:alert(1)').tagName,
                linkRel: dom.externalLink('https://ok.example/').rel,
                anchorHref: dom.h('a', {href: 'javascript:alert(1)'}).hasAttribute('href'),
                text: dom.h('p', {}, '<b>bold</b>').innerHTML,
                refusals,
            };
        }"""
    )
    assert result["urls"] == [None, None, None, None, None, "https://ok.example/a?b#c", "http://ok.example/"]
    assert result["linkTag"] == "SPAN"
    assert result["linkRel"] == "noopener noreferrer nofollow"
    assert result["anchorHref"] is False
    assert result["text"] == "&lt;b&gt;bold&lt;/b&gt;"
    assert result["refusals"] == [True, True]
