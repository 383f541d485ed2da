"""Dashboard paint times in a real Chromium: how long each history view takes from the request of its
data to every panel painted (summary, chart, five breakdowns), read from the page itself
(`section.history[data-paint-ms]`), and the "three clicks" question of issue 20: which country sends
Firefox users to /pricing.

    .venv/bin/python scripts/demo_data.py --data-dir /tmp/demo --sessions-per-day 4000   # ~1M events
    .venv/bin/python -m bench.dashboard_paint --data-dir /tmp/demo --email ada-… --password …

Starts its own Eddy (`run.py` on a free port over that data dir), signs in through the page, opens the
first site whose name is --site, and for each range loads the view twice (cold: first ask of the stats
cache; warm: the same view again). Prints a table and writes bench/results/dashboard_paint.json. Needs
Playwright and the system Chromium (as the browser tests do).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from tests.support.eddy_process import EddyProcess

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
RANGES = ["today", "7d", "30d", "90d", "12mo", "all"]


def settled(page: Page, after_seq: int) -> dict[str, Any]:
    """Wait until the history view's load number `after_seq`+ has painted; its timings."""
    page.wait_for_function(
        "n => { const v = document.querySelector('section.history');"
        " return v && Number(v.dataset.seq) > n && v.dataset.loading === 'false'; }",
        arg=after_seq,
        timeout=120_000,
    )
    return page.evaluate(
        "() => { const v = document.querySelector('section.history');"
        " return {seq: Number(v.dataset.seq), paint_ms: Number(v.dataset.paintMs),"
        " since_navigation_ms: Math.round(performance.now()),"
        " errors: [...v.querySelectorAll('.error')].map(e => e.innerText)}; }"
    )


def seq(page: Page) -> int:
    return int(page.evaluate("Number(document.querySelector('section.history')?.dataset.seq || 0)"))


def measure(base: str, email: str, password: str, site_name: str, ranges: list[str]) -> dict[str, Any]:
    """Every timing, as a dict."""
    results: dict[str, Any] = {"ranges": {}, "clicks": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(base + "/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Your sites").wait_for()
        page.get_by_role("link", name=site_name, exact=True).first.click()
        page.wait_for_selector("section.history")
        site_path = page.evaluate("location.pathname")
        for name in ranges:
            runs = []
            for _ in ("cold", "warm"):
                page.goto(f"{base}{site_path}?range={name}")
                runs.append(settled(page, 0))
            results["ranges"][name] = {"cold": runs[0], "warm": runs[1]}
        # Three clicks: Firefox in Devices, /pricing in Pages, then the country column answers.
        page.goto(f"{base}{site_path}?range=30d")
        settled(page, 0)
        for selector, text in (
            ("[data-breakdown=devices] .row-filter", "Firefox"),
            ("[data-breakdown=pages] .row-filter", "/pricing"),
        ):
            before = seq(page)
            page.locator(selector, has_text=text).first.click()
            timing = settled(page, before)
            results["clicks"].append({"clicked": text, **timing})
        rows = page.locator("[data-breakdown=locations] tbody tr")
        results["answer"] = [
            rows.nth(i).locator("td").first.inner_text().strip() for i in range(min(3, rows.count()))
        ]
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--site", default="Ada's Shop")
    parser.add_argument("--ranges", default=",".join(RANGES), help="comma-separated presets")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "dashboard_paint.json"))
    args = parser.parse_args()
    eddy = EddyProcess(Path(args.data_dir), env={"EDDY_LOG_LEVEL": "WARNING"}).start(timeout=60)
    try:
        results = measure(eddy.url, args.email, args.password, args.site, args.ranges.split(","))
    finally:
        eddy.stop()
    print(f"{'view':<10} {'cold ms':>8} {'warm ms':>8}")
    for name, runs in results["ranges"].items():
        errors = runs["cold"]["errors"] + runs["warm"]["errors"]
        print(f"{name:<10} {runs['cold']['paint_ms']:>8} {runs['warm']['paint_ms']:>8}  {'; '.join(errors)}")
    for click in results["clicks"]:
        print(f"click {click['clicked']:<12} {click['paint_ms']:>6} ms")
    print("countries sending Firefox users to /pricing:", ", ".join(results["answer"]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
