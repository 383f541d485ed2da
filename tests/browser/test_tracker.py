"""The tracker in a real Chromium on a customer's page (another origin) against a real Eddy process:
what reaches Eddy is read back from the events it stored.

Every test builds its snippet through POST /api/v1/sites/{id}/snippet with `allow_localhost` and
`allow_automated` (the page is on 127.0.0.1 and Playwright's browser says navigator.webdriver)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any

from playwright.sync_api import Page, Request, WebSocket, WebSocketRoute

from tests.support.customer_site import CustomerSite
from tests.support.eddy_process import EddyProcess
from tests.support.scrape import value
from tests.support.tracked_site import Event, TrackedSite, page_with
from tests.support.until import until_sync

# JavaScript: is an event with this text waiting in one of the tracker's localStorage queues?
QUEUED_WITH = "Object.keys(localStorage).some(k => k.startsWith('eddy_q') && localStorage[k].includes('%s'))"
QUEUES_EMPTY = "!Object.keys(localStorage).some(k => k.startsWith('eddy_q'))"


class Traffic:
    """What the page sent to Eddy: HTTP requests and websocket frames, both ways."""

    def __init__(self, page: Page, eddy_url: str) -> None:
        self.eddy_url = eddy_url
        self.requests: list[Request] = []
        self.sockets: list[WebSocket] = []
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.page = page
        page.on("request", self._request)
        page.on("websocket", self._socket)

    def settle(self) -> Traffic:
        """Let Playwright deliver the page's pending network events to these listeners (the sync API
        dispatches them only inside its own calls)."""
        self.page.wait_for_timeout(500)
        return self

    def _request(self, request: Request) -> None:
        if request.url.startswith(self.eddy_url):
            self.requests.append(request)

    def _socket(self, socket: WebSocket) -> None:
        self.sockets.append(socket)
        socket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        socket.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def posts(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.url == self.eddy_url + path]

    def ids_sent_over_http(self) -> list[str]:
        return [
            event["id"]
            for r in self.posts("/api/v1/collect")
            for event in json.loads(r.post_data or "")["events"]
        ]

    def ids_sent_over_websocket(self) -> list[str]:
        return [event["id"] for message in self.sent for event in message["events"]]


def assert_each_stored_once(events: list[Event]) -> None:
    counts = Counter(event["id"] for event in events)
    assert all(count == 1 for count in counts.values()), counts.most_common(3)


def open_site(
    page: Page,
    site: TrackedSite,
    customer: CustomerSite,
    snippet: str,
    body: str = "",
    path: str = "/",
    **headers: str,
) -> str:
    url = customer.put(path, page_with(snippet, body), **headers)
    site.pause = lambda seconds: page.wait_for_timeout(seconds * 1000)
    page.goto(url)
    return url


def open_under_strict_csp(
    page: Page, eddy: EddyProcess, customer: CustomerSite, allow_ws: bool
) -> TrackedSite:
    """The customer's page with a CSP that allows no inline code, Eddy's script, and connections to Eddy
    over http (and over ws when `allow_ws`)."""
    site = TrackedSite.create(eddy, customer.origin)
    connect = eddy.url + (" " + eddy.url.replace("http://", "ws://") if allow_ws else "")
    csp = f"default-src 'none'; script-src {eddy.url}; connect-src {connect}"
    open_site(page, site, customer, site.snippet(), Content_Security_Policy=csp)
    return site


def test_integrity_pinned_snippet_runs_and_a_tampered_pin_is_refused(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    pinned = site.snippet(integrity=True)
    assert 'integrity="sha384-' in pinned
    open_site(page, site, customer_site, pinned, path="/pinned")
    [view] = site.named("pageview")
    assert view["path"] == "/pinned"

    # the same tag with another build's hash: the browser refuses to run the script, nothing is sent
    tampered = re.sub(r'integrity="sha384-[^"]+"', 'integrity="sha384-' + "A" * 64 + '"', pinned)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text))
    open_site(page, site, customer_site, tampered, path="/tampered")
    page.wait_for_timeout(1500)
    assert page.evaluate("typeof window.eddy") == "undefined"
    assert any("integrity" in text for text in refused), refused
    assert [e["path"] for e in site.events() if e["name"] == "pageview"] == ["/pinned"]


def test_pageview_custom_event_and_identify_over_the_websocket(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    traffic = Traffic(page, eddy_server.url)
    url = open_site(page, site, customer_site, site.snippet())

    [view] = site.named("pageview")
    assert view["url"] == url and view["path"] == "/" and view["title"] == "Shop"
    assert view["referrer"] == "" and view["browser"] == "Chrome" and view["screen"] == "1280x720"

    page.evaluate(
        """eddy('signup', {plan: 'pro', seats: 3, trial: true, nested: {a: 1}, gone: null,
                          'bad key': 1, long: 'x'.repeat(600)})"""
    )
    [signup] = site.named("signup")
    assert signup["props"] == {"plan": "pro", "seats": 3, "trial": True, "long": "x" * 512}

    page.evaluate("eddy.identify('user-42', {age_band: '25-34', gender: 'f', plan: 'pro', shoe: '44'})")
    page.evaluate("eddy('upgrade')")
    [upgrade] = site.named("upgrade")
    assert upgrade["user_id"] == "user-42"
    assert upgrade["traits"] == {"age_band": "25-34", "gender": "f", "plan": "pro"}
    assert signup["user_id"] == ""  # identify tags only later events

    # One websocket carried all of it, each batch acknowledged; nothing went over HTTP.
    traffic.settle()
    assert len(traffic.sockets) == 1 and traffic.sockets[0].url.startswith(
        eddy_server.url.replace("http", "ws")
    )
    stored = site.events()
    assert set(traffic.ids_sent_over_websocket()) == {e["id"] for e in stored}
    assert {a["ack"] for a in traffic.received if "ack" in a} == {m["id"] for m in traffic.sent}
    assert traffic.posts("/api/v1/collect") == []
    assert_each_stored_once(stored)
    # No cookies, and the queue is empty once everything is acknowledged.
    assert page.context.cookies() == [] and page.evaluate("document.cookie") == ""
    assert page.evaluate(QUEUES_EMPTY)


def test_spa_navigation_with_history(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    home = open_site(page, site, customer_site, site.snippet())
    site.named("pageview")
    page.evaluate("history.pushState({}, '', '/pricing?plan=pro')")
    page.evaluate("history.replaceState({step: 2}, '')")  # same URL: not a new view
    page.evaluate("history.pushState({}, '', '/pricing?plan=pro#faq')")  # only the hash changed
    views = site.named("pageview", count=2)
    assert views[1]["url"] == customer_site.url("/pricing?plan=pro")
    # the view belongs to a visit that arrived directly: it carries the visit's referrer, not the page's
    assert views[1]["path"] == "/pricing" and views[1]["referrer"] == ""
    page.go_back()
    page.go_back()  # popstate back to the home page
    views = site.named("pageview", count=3)
    assert views[2]["url"] == home and views[2]["referrer"] == ""
    page.evaluate("history.replaceState({}, '', '/account')")  # replaceState to a new URL is a view
    views = site.named("pageview", count=4)
    assert views[3]["url"] == customer_site.url("/account")
    page.wait_for_function(QUEUES_EMPTY)  # all it sent is acknowledged: nothing more is on its way
    assert len(site.named("pageview")) == 4
    assert_each_stored_once(site.events())


def test_spa_navigation_with_hash_routing(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    home = open_site(page, site, customer_site, site.snippet(spa="hash"))
    site.named("pageview")
    page.evaluate("location.hash = '#/settings'")
    views = site.named("pageview", count=2)
    assert views[1]["url"] == home + "#/settings" and views[1]["referrer"] == ""  # the visit's referrer


def test_outbound_and_download_clicks(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    customer_site.put("/files/report.pdf", b"%PDF-1.4", "application/pdf", Content_Disposition="attachment")
    outbound = eddy_server.url + "/healthz"  # another origin: an outbound link
    body = (
        f'<a id="out" href="{outbound}">partner</a> <a id="pdf" href="/files/report.pdf">report</a>'
        '<a id="local" href="#top">top</a>'
    )
    open_site(page, site, customer_site, site.snippet(), body)
    site.named("pageview")
    page.click("#local")
    with page.expect_download():
        page.click("#pdf")
    [download] = site.named("download")
    assert download["props"] == {"url": customer_site.url("/files/report.pdf")}
    # The outbound click leaves the page: the event goes out as the page is hidden, by keepalive fetch.
    page.click("#out")
    page.wait_for_url(outbound)
    [out] = site.named("outbound")
    assert out["props"] == {"url": outbound} and out["url"] == customer_site.url("/")
    events = site.events()
    assert sorted(e["name"] for e in events) == ["download", "outbound", "pageview"]
    assert_each_stored_once(events)


def test_metric_samples_reach_the_sites_declared_metrics(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    site.add_metric("signups", "counter", ["plan"])
    traffic = Traffic(page, eddy_server.url)
    open_site(page, site, customer_site, site.snippet(metrics=["signups"]))
    page.evaluate("eddy.metric('signups', 2, {plan: 'pro'}); eddy.metric('undeclared', 5)")

    def scraped() -> bool:
        text = site.api.get("/metrics").body.decode()
        return value(text, "eddy_user_tally_signups_total", plan="pro", site=site.site_id) == 2

    until_sync(scraped, timeout=15, interval=0.2, pause=site.pause)
    traffic.settle()
    [post] = traffic.posts("/api/v1/metrics")
    assert json.loads(post.post_data or "") == {
        "metrics": [{"name": "signups", "value": 2, "labels": {"plan": "pro"}}]
    }
    assert post.headers["x-api-key"] == site.key


def test_beacon_transport_delivers_over_http_without_a_websocket(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    traffic = Traffic(page, eddy_server.url)
    open_site(page, site, customer_site, site.snippet(transport="beacon"))
    page.evaluate("eddy('contact', {form: 'footer'})")
    site.named("pageview")
    site.named("contact")
    traffic.settle()
    assert traffic.sockets == []
    posts = traffic.posts("/api/v1/collect")
    assert posts and all(r.headers["content-type"].startswith("text/plain") for r in posts)
    assert all(json.loads(r.post_data or "")["k"] == site.key for r in posts)
    assert_each_stored_once(site.events())


def test_websocket_blocked_falls_back_to_http(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite, browser_log: list[str]
) -> None:
    # The page's CSP allows Eddy's http origin but not its ws origin: the websocket is blocked.
    traffic = Traffic(page, eddy_server.url)
    site = open_under_strict_csp(page, eddy_server, customer_site, allow_ws=False)
    page.evaluate("eddy('signup', {plan: 'pro'})")
    site.named("pageview")
    site.named("signup")
    traffic.settle()
    assert any("violates the following Content Security Policy" in line for line in browser_log)
    assert set(traffic.ids_sent_over_http()) == {e["id"] for e in site.events()}
    assert_each_stored_once(site.events())


def test_strict_csp_page_uses_the_websocket(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite, browser_log: list[str]
) -> None:
    traffic = Traffic(page, eddy_server.url)
    site = open_under_strict_csp(page, eddy_server, customer_site, allow_ws=True)
    site.named("pageview")
    traffic.settle()
    assert not [line for line in browser_log if "Content Security Policy" in line]
    assert traffic.ids_sent_over_websocket() and traffic.posts("/api/v1/collect") == []


def test_events_queued_while_eddy_is_down_arrive_after_it_returns(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    snippet = site.snippet()
    open_site(page, site, customer_site, snippet)
    site.named("pageview")

    eddy_server.stop()
    page.evaluate("for (let n = 0; n < 3; n++) eddy('kept_open', {n})")
    # Another tab queues events and is closed while Eddy is still down.
    closed_tab = page.context.new_page()
    closed_tab.goto(customer_site.url("/"))
    closed_tab.evaluate("eddy('closed_tab')")
    closed_tab.wait_for_function(QUEUED_WITH % "closed_tab")
    closed_tab.close()
    page.wait_for_function(QUEUED_WITH % "kept_open")
    time.sleep(2)  # the outage goes on for a while: the open page fails a few sends meanwhile

    eddy_server.start()
    # The open page retries on its own (backoff, at most 30 s); a new page takes over the closed tab's
    # queue (and the open page's, which the server then receives twice and stores once).
    reopened = page.context.new_page()
    reopened.goto(customer_site.url("/"))
    kept = site.named("kept_open", timeout=60, count=3)
    assert sorted(e["props"]["n"] for e in kept) == [0, 1, 2]
    site.named("closed_tab", timeout=30)
    site.named("pageview", count=3)  # the first page's, the closed tab's and the new page's
    for tab in (page, reopened):  # all they sent is acknowledged: nothing more is on its way
        tab.wait_for_function(QUEUES_EMPTY)
    events = site.events()
    assert Counter(e["name"] for e in events) == {"pageview": 3, "kept_open": 3, "closed_tab": 1}
    assert_each_stored_once(events)


def test_lost_acks_make_retries_that_are_stored_once(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    """Eddy stores the batch but its acks never reach the page; the socket then drops. The tracker sends
    the same events again over HTTP and the store keeps one copy of each."""
    site = TrackedSite.create(eddy_server, customer_site.origin)
    traffic = Traffic(page, eddy_server.url)
    swallowed: list[str | bytes] = []
    routes: list[WebSocketRoute] = []

    def swallow_acks(route: WebSocketRoute) -> None:
        server = route.connect_to_server()
        server.on_message(lambda message: swallowed.append(message))  # acks never reach the page
        routes.append(route)

    page.route_web_socket(re.compile(r".*/ws/collect.*"), swallow_acks)
    open_site(page, site, customer_site, site.snippet(batch_size=2))
    page.evaluate("eddy('a'); eddy('b'); eddy('c')")
    site.wait_for(lambda events: len(events) == 4, what="four events stored from the first sends")
    assert len(swallowed) >= 1 and all("ack" in json.loads(m) for m in swallowed)
    routes[0].close()  # the page sees its socket drop and re-sends what was never acknowledged
    page.wait_for_function(QUEUES_EMPTY, timeout=30_000)
    traffic.settle()
    over_http, over_ws = traffic.ids_sent_over_http(), traffic.ids_sent_over_websocket()
    events = site.events()
    # Every event went out at least twice (once on the socket whose acks were lost, then again)...
    assert all(over_ws.count(e["id"]) + over_http.count(e["id"]) >= 2 for e in events)
    assert over_http, "the re-sends went over HTTP while the socket was down"
    assert Counter(e["name"] for e in events) == {"pageview": 1, "a": 1, "b": 1, "c": 1}
    assert_each_stored_once(events)


def test_do_not_track_opt_out_and_automation_are_respected(
    browser_context: Any, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    cases = {
        "dnt": ("Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'})", site.snippet()),
        "opt_out": ("localStorage.setItem('eddy_ignore', '1')", site.snippet()),
        "automated": ("", site.snippet(allow_automated=False)),
    }
    for name, (init, snippet) in cases.items():
        tab = browser_context.new_page()
        traffic = Traffic(tab, eddy_server.url)
        if init:
            tab.add_init_script(init)
        tab.goto(customer_site.put(f"/{name}", page_with(snippet)))
        tab.evaluate(f"eddy('{name}'); eddy.metric('x', 1)")
        traffic.page.wait_for_timeout(1500)
        assert [r.url for r in traffic.requests if "/t.js" not in r.url] == [], name
        assert traffic.sockets == [], name
        tab.close()
    # The same browser with DNT (and no opt-out) but a snippet that ignores DNT is tracked.
    tab = browser_context.new_page()
    tab.add_init_script(cases["dnt"][0] + "; localStorage.removeItem('eddy_ignore')")
    tab.goto(customer_site.put("/tracked", page_with(site.snippet(respect_dnt=False))))
    [view] = site.named("pageview")
    assert view["path"] == "/tracked" and len(site.events()) == 1


def test_features_the_snippet_turns_off_send_nothing(
    page: Page, eddy_server: EddyProcess, customer_site: CustomerSite
) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    customer_site.put("/files/report.pdf", b"%PDF-1.4", "application/pdf", Content_Disposition="attachment")
    snippet = site.snippet(
        auto_pageviews=False,
        outbound_links=False,
        downloads=False,
        custom_events=False,
        batch_interval_ms=200,
    )
    body = (
        '<a id="pdf" href="/files/report.pdf">report</a>'
        f'<a id="out" href="{eddy_server.url}/healthz" target="_blank">partner</a>'
    )
    open_site(page, site, customer_site, snippet, body)
    with page.expect_download():
        page.click("#pdf")
    with page.expect_popup() as popup:
        page.click("#out")
    popup.value.close()
    page.evaluate("eddy('signup'); history.pushState({}, '', '/next'); eddy('pageview')")
    [view] = site.named("pageview")
    assert view["url"] == customer_site.url("/next")
    page.wait_for_timeout(1500)  # anything else would have been sent by now (200 ms batches)
    assert [e["name"] for e in site.events()] == ["pageview"]
