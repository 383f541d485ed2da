"""Errors people read, in a real Chromium against a real Eddy: every form walked with bad input shows a
sentence at the field, and no message on the page holds a regex, a type name or a JSON path. And a deep
link survives signing in."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.dashboard_helpers import PASSWORD, create_public_key, create_site, sign_up
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi

# What must never reach a person: msgspec's words and types, code spans, JSON paths, regex syntax.
MACHINE = re.compile(r"`|\$\.|\bExpected\b|\bregex\b|\bstr\b|\bint\b|\[\d+\]|\^|\\s|\{\d")


def messages(page: Page) -> list[str]:
    """Every error text on the page (boxes and field notes)."""
    return [text for text in page.locator(".error, .field-error").all_inner_texts() if text.strip()]


def assert_readable(page: Page) -> list[str]:
    shown = messages(page)
    assert shown, "expected an error on the page"
    assert not [text for text in shown if MACHINE.search(text)], shown
    return shown


def field_error(control: Locator) -> Locator:
    """The sentence shown under a form control."""
    return control.locator("xpath=following-sibling::small[contains(@class, 'field-error')]")


def refused(page: Page, submit: Locator, control: Locator, says: str) -> None:
    """Press `submit` and expect a readable sentence containing `says` under `control`."""
    submit.click()
    expect(field_error(control)).to_contain_text(says)
    assert_readable(page)


def test_every_form_answers_bad_input_with_sentences_at_the_field(
    page: Page, eddy_server: EddyProcess
) -> None:
    base = eddy_server.url
    # Sign up: an email without a domain, then a short password.
    page.goto(base + "/register")
    page.get_by_label("Email").fill("ada@localhost")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Create account").click()
    email_note = field_error(page.get_by_label("Email"))
    expect(email_note).to_have_text("Enter an email address like name@example.com.")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    assert_readable(page)
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    password_note = field_error(page.get_by_label("Password"))
    expect(password_note).to_have_text("Use at least 8 characters for the password.")
    expect(field_error(page.get_by_label("Email"))).to_have_count(0)
    assert_readable(page)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Your sites")).to_be_visible()

    # Add a site: a domain written as a URL, then an origin without its scheme.
    page.get_by_role("link", name="Add a site").click()
    page.get_by_label("Name", exact=True).fill("Shop")
    page.get_by_label("Domain").fill("https://shop.example/")
    page.get_by_label("Allowed origins").fill("https://shop.example")
    add_site = page.get_by_role("button", name="Add site")
    refused(page, add_site, page.get_by_label("Domain"), "without https://")
    page.get_by_label("Domain").fill("shop.example")
    page.get_by_label("Allowed origins").fill("https://shop.example\nshop.example/path")
    refused(page, add_site, page.get_by_label("Allowed origins"), "like https://shop.example")
    page.get_by_label("Allowed origins").fill("https://shop.example")
    add_site.click()
    expect(page).to_have_url(re.compile(r"/keys$"))

    # A key that expires after 0 days.
    form = page.locator("form.key-form")
    form.get_by_label("Name").fill("Website")
    expires = form.get_by_label("Expires after (days)")
    expires.fill("0")
    refused(page, form.get_by_role("button", name="Create key"), expires, "between 1 and 3650")
    expires.fill("")
    create_public_key(page)

    # A metric with a name Prometheus refuses.
    page.get_by_role("link", name="Metrics").click()
    form = page.locator("form.metric-form")
    add_metric = form.get_by_role("button", name="Add metric")
    form.get_by_label("Name").fill("bad name!")
    refused(page, add_metric, form.get_by_label("Name"), "Use letters, digits, underscores")
    form.get_by_label("Name").fill("checkout_seconds")
    form.get_by_label("Labels").fill("plan, __reserved")
    refused(page, add_metric, form.get_by_label("Labels"), "letters, digits and underscores")

    # A snippet batching 0 events.
    page.get_by_role("link", name="Snippet").click()
    page.get_by_label("Batch size").fill("0")
    page.get_by_role("button", name="Build snippet").click()
    batch_note = field_error(page.get_by_label("Batch size"))
    expect(batch_note).to_have_text("Send between 1 and 100 events at a time.")
    assert_readable(page)

    # Team: an invitation to something that is not an email address.
    page.get_by_role("link", name="Team").click()
    form = page.locator("form.member-form")
    form.get_by_label("Email").fill("nobody at example")
    form.get_by_role("button", name="Send invitation").click()
    expect(form.get_by_role("alert")).to_be_visible()
    assert_readable(page)

    # Settings: a goal with a * inside the path, a goal twice, a currency that is no code, an Umami id
    # that is no UUID.
    page.get_by_role("link", name="Settings").click()
    goals = page.get_by_label("Goals")
    save = page.get_by_role("button", name="Save changes")
    goals.fill("/a*/b")
    refused(page, save, goals, "a page starting with /")
    goals.fill("Signup\nSignup")
    refused(page, save, goals, "on a line of its own, once")
    goals.fill("Signup")
    page.get_by_label("Currency").fill("eu")
    save.click()
    expect(field_error(page.get_by_label("Currency"))).to_have_text(
        "Enter a currency as its three-letter code, like EUR or USD."
    )
    assert_readable(page)
    page.get_by_label("Currency").fill("")
    page.get_by_label("Umami website id").fill("not-a-uuid")
    refused(page, save, page.get_by_label("Umami website id"), "Umami website id")

    # History: a funnel of one step; a hand-edited link with a filter no one can use opens without it.
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_label("Steps, one a line").fill("/only")
    page.get_by_role("button", name="Show funnel").click()
    expect(page.locator(".funnel .error")).to_have_text("A funnel needs at least two steps.")
    page.goto(page.url + "?filters=prop:" + "x" * 120 + "==1")
    expect(page.locator("[data-metric=visitors] .big-number")).to_be_visible()
    expect(page.get_by_test_id("filter-bar")).to_have_count(0)


def test_a_deep_link_survives_signing_in(page: Page, eddy_server: EddyProcess, eddy_api: SyncApi) -> None:
    email = sign_up(page, eddy_server.url)
    site_id = create_site(page, "Deep Shop", "shop.example", "https://shop.example")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(eddy_server.url + "/login")

    wanted = f"/sites/{site_id}/snippet"
    page.goto(eddy_server.url + wanted)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(eddy_server.url + wanted)
    expect(page.get_by_role("heading", name="Tracking snippet")).to_be_visible()

    # A dashboard view with its range and filters comes back whole.
    page.get_by_role("button", name="Sign out").click()
    page.goto(eddy_server.url + f"/sites/{site_id}?range=30d&filters=country==DE")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Date range")).to_have_value("30d")
    expect(page.get_by_test_id("filter-bar")).to_contain_text("Country is Germany")

    # `next` never leads off the app: another origin, or a sign-in page, ends on the sites list.
    for bad in ("//evil.example/x", "https://evil.example/", "/login", "/\\evil.example"):
        page.get_by_role("button", name="Sign out").click()
        page.goto(eddy_server.url + "/login?next=" + bad)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(eddy_server.url + "/sites")
    assert eddy_api.get("/healthz").status == 200
