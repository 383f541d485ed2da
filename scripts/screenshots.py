"""Screenshots of the dashboard's main pages at desktop (1280x800) and phone (390x844) widths.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Starts a throwaway Eddy (`run.py` on a free port and a temporary data dir), signs up through the UI,
creates a site, a public key and a metric, sends a handful of events (one with a `javascript:` URL and a
markup prop, to see them rendered as text), then saves PNGs of each page into the output folder
(git-ignored). Needs Playwright (requirements-dev.txt) and the system Chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("EDDY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SITE_ORIGIN = "https://shop.example"
# Client-side navigation (the session's access token lives in the page's memory, so no page loads).
GO_TO = "path => { history.pushState(null, '', path); dispatchEvent(new PopStateEvent('popstate')); }"


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(
    base: str, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> object:
    """One JSON request; raises on a non-2xx answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})  # noqa: S310 - our own http:// server
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - see above
        text = answer.read()
    return json.loads(text) if text else None


def start_eddy(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """run.py on a free port; waits for /healthz."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "run.py", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            call(base, "GET", "/healthz")
            return process, base
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("eddy did not start")


def send_demo_events(base: str, key: str) -> None:
    """A few pageviews and events from the customer's site (and two hostile ones, shown as text)."""
    events = []
    pages = ["/", "/pricing", "/blog/launch", "/docs/getting-started", "/", "/pricing"]
    for index, page in enumerate(pages):
        events.append(
            {
                "name": "pageview",
                "url": SITE_ORIGIN + page,
                "referrer": "https://news.example.org/item?id=1" if index % 2 else "",
                "session_id": f"s{index % 3}",
            }
        )
    events.append({"name": "signup", "url": SITE_ORIGIN + "/pricing", "props": {"plan": "pro"}})
    events.append({"name": "pageview", "url": "javascript:alert(1)"})
    events.append(
        {"name": "clicked", "url": SITE_ORIGIN + "/", "props": {"label": "<img src=x onerror=alert(1)>"}}
    )
    headers = {
        "X-Api-Key": key,
        "Origin": SITE_ORIGIN,
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0",
    }
    for attempt in range(5):  # a freshly started server may answer 503 (Retry-After) for a moment
        try:
            call(base, "POST", "/api/v1/collect", {"events": events}, headers)
            return
        except urllib.error.HTTPError as error:
            if error.code != 503 or attempt == 4:
                raise
            time.sleep(1)


def shoot(
    page: Page,
    out: Path,
    name: str,
    path: str,
    wait_for: str | None = None,
    settle_ms: int = 800,
    click: str | None = None,
) -> None:
    """Open `path` in the app (client-side navigation keeps the session), optionally click something,
    and save one PNG per width."""
    for label, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.evaluate(GO_TO, path)
        if wait_for:
            page.wait_for_selector(wait_for)
        if click:
            page.click(click)
        page.wait_for_timeout(settle_ms)
        page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="eddy-shots-") as tmp:
        process, base = start_eddy(Path(tmp) / "data")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                page = browser.new_page(viewport=VIEWPORTS["desktop"])
                page.on("pageerror", lambda error: print("page error:", error, file=sys.stderr))
                for label, size in VIEWPORTS.items():
                    page.set_viewport_size(size)
                    page.goto(base + "/register")
                    page.wait_for_selector("form.auth-form")
                    page.screenshot(path=str(out / f"register-{label}.png"), full_page=True)
                page.set_viewport_size(VIEWPORTS["desktop"])
                page.fill("input[name=name]", "Ada")
                page.fill("input[name=email]", "ada@example.com")
                page.fill("input[name=password]", "correct horse battery staple")
                page.click("button[type=submit]")
                page.wait_for_selector(".page-head h1")
                page.click("text=Add a site")
                page.fill("input[name=name]", "Shop")
                page.fill("input[name=domain]", "shop.example")
                page.fill("textarea[name=allowed_origins]", SITE_ORIGIN)
                page.click("button[type=submit]")
                page.wait_for_selector(".key-form")
                page.fill(".key-form input[name=name]", "Website")
                page.click(".key-form button[type=submit]")
                key = page.inner_text("[data-testid=new-key-value]")
                site_path = page.evaluate("location.pathname").rsplit("/", 1)[0]
                send_demo_events(base, key)
                shoot(page, out, "sites", "/sites", ".site-list")
                shoot(page, out, "dashboard", site_path, ".history[data-loading=false]", settle_ms=2000)
                for label, size in VIEWPORTS.items():
                    page.set_viewport_size(size)
                    height = page.evaluate("document.documentElement.scrollHeight")
                    chart_top = page.evaluate(
                        "document.querySelector('.chart-card').getBoundingClientRect().top + scrollY"
                    )
                    print(f"dashboard {label}: page {height} px tall, chart starts at {chart_top:.0f} px")
                shoot(
                    page,
                    out,
                    "dashboard-filtered",
                    site_path + "?range=today&compare=previous&filters=page%3D%3D%2Fpricing",
                    ".history[data-loading=false]",
                )
                shoot(
                    page,
                    out,
                    "details",
                    site_path,
                    ".history[data-loading=false]",
                    click="[aria-label='Pages: details']",
                )
                page.keyboard.press("Escape")
                shoot(page, out, "keys", site_path + "/keys", "table")
                shoot(
                    page,
                    out,
                    "snippet",
                    site_path + "/snippet",
                    ".snippet-form",
                    click="text=Verify installation",
                )
                shoot(page, out, "metrics", site_path + "/metrics", ".metric-form")
                shoot(page, out, "team", site_path + "/members", ".member-form")
                shoot(page, out, "share", site_path + "/share", ".actions")
                shoot(page, out, "settings", site_path + "/settings", ".site-form")
                shoot(page, out, "imports", site_path + "/imports", ".import-form")
                shoot(page, out, "account", "/account", ".two-factor")
                shoot(page, out, "admin", "/admin", "table")
                page.evaluate(GO_TO, site_path + "/share")
                page.click("text=Create a share link")
                share_url = page.inner_text("[data-testid=share-url]")
                guest = browser.new_page(viewport=VIEWPORTS["desktop"])
                guest.goto(share_url)
                guest.wait_for_selector(".history .stat")
                for label, size in VIEWPORTS.items():
                    guest.set_viewport_size(size)
                    guest.wait_for_timeout(800)
                    guest.screenshot(path=str(out / f"shared-{label}.png"), full_page=True)
                guest.close()
                page.evaluate("() => sessionStorage.clear()")
                for label, size in VIEWPORTS.items():
                    page.set_viewport_size(size)
                    page.goto(base + "/login")
                    page.wait_for_selector("form.auth-form")
                    page.screenshot(path=str(out / f"login-{label}.png"), full_page=True)
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=15)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
