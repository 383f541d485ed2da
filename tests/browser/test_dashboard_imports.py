"""The Imports tab in a real Chromium against a real Eddy: an admin uploads Umami's tables (a zip made
here), follows the import to its summary (rows read, imported, skipped with their line), sees it listed,
imports the same file again without anything counted twice, and an unusable file fails with a sentence;
a Plausible export shows merged into the dashboard's numbers, chart and breakdowns, with a note saying how
many days came from it and a switch to leave them out."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Page, expect

from tests.browser.dashboard_helpers import create_site, sign_up
from tests.support.eddy_process import EddyProcess
from tests.support.plausible_export import plausible_zip
from tests.support.umami_export import umami_zip

EVENTS = 2_000


def choose_file(page: Page, kind: str, name: str, body: bytes) -> None:
    page.get_by_label("What the file is").select_option(kind)
    page.get_by_label("File", exact=True).set_input_files(
        {"name": name, "mimeType": "application/octet-stream", "buffer": body}
    )


def test_an_umami_import_with_progress_summary_and_a_harmless_second_run(
    page: Page, eddy_server: EddyProcess, browser_log: list[str]
) -> None:
    base = eddy_server.url
    sign_up(page, base)
    create_site(page, "Import Shop", "shop.example", "https://shop.example")
    page.get_by_role("link", name="Imports").click()
    expect(page.get_by_role("heading", name="Import history")).to_be_visible()
    expect(page.locator(".import-list")).to_contain_text("No imports yet.")
    progress = page.get_by_test_id("import-progress")

    # Nothing chosen: a sentence, not a request.
    page.get_by_role("button", name="Import").click()
    expect(progress).to_have_text("Choose the file to import first.")

    body, expected = umami_zip(days=3, events=EVENTS)
    bad = len(expected["bad_lines"])
    assert bad > 0
    choose_file(page, "umami", "umami.zip", body)
    page.get_by_role("button", name="Import").click()
    done = progress.locator(".import-job[data-status=done]")
    expect(done).to_be_visible(timeout=30_000)
    counts = f"{EVENTS + bad:,} rows read · {EVENTS:,} imported · 0 already there · {bad} skipped"
    expect(progress.get_by_test_id("import-counts")).to_have_text(counts)
    expect(done.locator(".import-done")).to_have_text(re.compile(r"^Done\. History from \d{4}-\d\d-\d\d to "))
    skipped = progress.get_by_test_id("import-errors").locator("li")
    expect(skipped).to_have_count(bad)
    expect(skipped.first).to_have_text(re.compile(rf"^Line {expected['bad_lines'][0]:,}: "))
    rows = page.locator(".import-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Umami tables")
    expect(rows.first).to_contain_text("Done")

    # The same file again: everything is already there.
    page.get_by_role("button", name="Import").click()
    again = f"{EVENTS + bad:,} rows read · 0 imported · {EVENTS:,} already there · {bad} skipped"
    expect(progress.get_by_test_id("import-counts")).to_have_text(again, timeout=30_000)
    expect(rows).to_have_count(2)

    # A file that is not what it says fails, in words, with nothing kept.
    choose_file(page, "plausible", "export.zip", b"not a zip at all")
    page.get_by_role("button", name="Import").click()
    failed = progress.locator(".import-job[data-status=failed] .error")
    expect(failed).to_be_visible(timeout=30_000)
    text = failed.inner_text()
    assert text and not re.search(r"`|\bExpected\b|\bstr\b|Error\b|\[\d+\]", text), text
    expect(rows).to_have_count(3)
    assert not [line for line in browser_log if line.startswith("pageerror")]


def test_a_plausible_export_shows_merged_into_the_history(page: Page, eddy_server: EddyProcess) -> None:
    base = eddy_server.url
    sign_up(page, base)
    site_id = create_site(page, "Moved Shop", "shop.example", "https://shop.example")
    page.get_by_role("link", name="Imports").click()
    last = dt.date.today() - dt.timedelta(days=5)
    first = last - dt.timedelta(days=15)
    body, per_day = plausible_zip(first, last)
    choose_file(page, "plausible", "plausible-export.zip", body)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_test_id("import-progress").locator(".import-job[data-status=done]")).to_be_visible(
        timeout=30_000
    )

    # The dashboard over the last 30 days: the imported days are merged into the numbers, chart and
    # breakdowns, and a note says how many days came from the import.
    page.goto(f"{base}/sites/{site_id}?range=30d")
    note = page.get_by_test_id("imported-note")
    expect(note).to_contain_text("Includes 16 days imported from Plausible")
    visitors = sum(day["visitors"] for day in per_day.values())
    summary_visitors = page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")
    expect(summary_visitors).to_have_text(f"{visitors:,}")
    pages = page.locator("[data-breakdown=pages]")
    expect(pages.locator("tbody tr").filter(has_text="/pricing")).to_contain_text(f"{10 * 16:,}")
    # Left out with one click (kept in the address), then brought back.
    note.get_by_test_id("imported-toggle").click()
    expect(note).to_contain_text("Imported data is left out.")
    expect(summary_visitors).to_have_text("0")
    assert "imported=0" in page.url
    note.get_by_test_id("imported-toggle").click()
    expect(summary_visitors).to_have_text(f"{visitors:,}")
    # Imported days hold daily totals only: with a filter they are left out, and the note says why.
    page.goto(f"{base}/sites/{site_id}?range=30d&filters=country==DE")
    expect(note).to_contain_text("cannot be filtered")
    expect(summary_visitors).to_have_text("0")
    # A range without imported days has no note.
    page.goto(f"{base}/sites/{site_id}?range=30d")
    expect(note).to_be_visible()
    page.get_by_label("Date range").select_option("today")
    expect(note).to_be_hidden()
