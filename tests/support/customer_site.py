"""A stand-in for a customer's website in browser tests: a small HTTP server on its own loopback port (so
it is a different origin from Eddy) serving pages the test registers, with the headers the test chooses
(for example a strict Content-Security-Policy)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.ports import free_port


@dataclass
class Page:
    """One registered resource: body, content type and extra response headers."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class CustomerSite:
    """Serves registered pages on http://127.0.0.1:PORT. Paths that match no page are answered with the
    `fallback` page when one is set (how single-page apps serve deep links), else 404. Every request path
    is recorded in `requests`, so a test can tell what the browser fetched."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        # Browsers ask for a favicon; an empty one keeps 404s out of the console logs.
        self.pages: dict[str, Page] = {"/favicon.ico": Page(b"", "image/x-icon")}
        self.fallback: Page | None = None
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """The absolute URL of `path` on this site."""
        return self.origin + path

    def put(
        self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8", **headers: str
    ) -> str:
        """Register (or replace) the page at `path`; returns its URL. Header names use underscores for
        dashes (`Content_Security_Policy=...`)."""
        raw = body.encode() if isinstance(body, str) else body
        page = Page(raw, content_type, {name.replace("_", "-"): value for name, value in headers.items()})
        with self._lock:
            self.pages[path] = page
        return self.url(path)

    def start(self) -> CustomerSite:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with site._lock:
                    site.requests.append(self.path)
                    page = site.pages.get(path) or site.fallback
                if page is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                self.send_header("Cache-Control", "no-store")
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(page.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="customer-site", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
